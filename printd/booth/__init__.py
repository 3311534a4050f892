"""The photo booth: its session state machine, the camera, and what presses the button."""
