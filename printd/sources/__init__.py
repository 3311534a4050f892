"""Where jobs come from: the inbox folder, the submit socket (`printd send`), the web page and MQTT."""
