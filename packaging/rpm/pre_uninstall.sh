# $1 = 0: erase (stop the service); 1: upgrade (postun restarts it).
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now openclaw-livestatus.service >/dev/null 2>&1 || :
fi
