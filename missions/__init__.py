"""Coverage planning, mission items, plan files and the MAVLink link to vehicles."""
