"""What the tests share: fake printers, pictures, the daemon as a subprocess, a broker."""
