// livestatus-harness runs the built plugin bundle under the SDK's plugin host with an in-memory
// Mattermost (see package harness), for end-to-end tests of the agent's plugin transport.
//
//	livestatus-harness -bundle dist/com.openclaw.livestatus-0.1.0.tar.gz -secret S [-listen 127.0.0.1:0] [-max-active-sessions N]
//
// It prints "listening on http://ADDR" once the plugin is active, and runs until SIGINT/SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"openclaw-livestatus/plugin/harness"
)

func main() {
	bundle := flag.String("bundle", "", "the plugin bundle (.tar.gz) to run")
	secret := flag.String("secret", "", "SharedSecret setting (empty: the plugin generates one)")
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve on")
	members := flag.String("member", "", "CHANNEL_ID:USER_ID to make a channel member (repeatable via commas)")
	maxActive := flag.Int("max-active-sessions", 0, "MaxActiveSessions setting (0: the plugin's default)")
	flag.Parse()
	if *bundle == "" {
		fmt.Fprintln(os.Stderr, "livestatus-harness: -bundle is required (build it with make -C plugin dist)")
		os.Exit(2)
	}
	config := map[string]any{"SharedSecret": *secret}
	if *maxActive > 0 {
		config["MaxActiveSessions"] = *maxActive
	}
	h, err := harness.Start(*bundle, config, *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "livestatus-harness:", err)
		os.Exit(1)
	}
	defer h.Close()
	if *members != "" {
		if err := addMembers(h, *members); err != nil {
			fmt.Fprintln(os.Stderr, "livestatus-harness:", err)
			os.Exit(2)
		}
	}
	fmt.Printf("listening on %s\n", h.URL)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}

func addMembers(h *harness.Harness, list string) error {
	for _, pair := range strings.Split(list, ",") {
		ch, user, ok := strings.Cut(pair, ":")
		if !ok || ch == "" || user == "" {
			return fmt.Errorf("-member %q: expected CHANNEL_ID:USER_ID", pair)
		}
		h.API.AddMember(ch, user)
	}
	return nil
}
