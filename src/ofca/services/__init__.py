"""Services: the I/O-doing layer between thin controllers and the pure domain."""
