"""A software-in-the-loop multicopter that speaks MAVLink like ArduCopter and photographs a world
raster. `Sitl` is the entry point; `gridpatrol sitl` runs it from the command line.
"""

from simulator.sitl import Sitl, VehicleSnapshot

__all__ = ["Sitl", "VehicleSnapshot"]
