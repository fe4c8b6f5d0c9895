"""A software-in-the-loop multicopter that speaks MAVLink like ArduCopter and photographs a world raster."""
