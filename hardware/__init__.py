"""Device I/O for CareBot (servo board, later audio and camera) and the hardware simulator."""
