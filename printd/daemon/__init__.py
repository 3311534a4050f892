"""`printd run`: the parts wired in one place, under systemd."""
