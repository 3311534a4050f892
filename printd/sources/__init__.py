"""Where jobs come from: the inbox folder, the camera and its triggers."""
