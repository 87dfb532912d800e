# $1 = 1: upgrade, restart a running service on the new binary. RPM has no purge: the state in
# /var/lib/openclaw-livestatus is kept on erase, as Fedora's packaging guidelines ask.
systemctl daemon-reload >/dev/null 2>&1 || :
if [ "$1" -ge 1 ]; then
    systemctl try-restart openclaw-livestatus.service >/dev/null 2>&1 || :
fi
