# Never starts the service on install: it needs a config and a token first.
systemctl daemon-reload >/dev/null 2>&1 || :
