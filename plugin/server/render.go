package main

import (
	"fmt"
	"strings"
)

// renderPlain draws the box as the agent's plain renderer does (agent/src/render/plain.rs), so
// the post's message reads the same in mobile apps, e-mail notifications and clients without the
// webapp as the box the webapp draws.
func renderPlain(s *Session, nowMs int64) string {
	var out []string
	end := nowMs
	if s.Finished() && s.EndedMs != 0 {
		end = s.EndedMs
	}
	elapsed := formatElapsed(max(end-s.CountedFrom(), 0))
	if s.Finished() {
		out = append(out, s.AgentID)
	} else {
		out = append(out, fmt.Sprintf("[ACTIVE] %s | %s", s.AgentID, elapsed))
	}
	if s.Dropped > 0 {
		out = append(out, fmt.Sprintf("  … %d earlier", s.Dropped))
	}
	for _, l := range s.Lines {
		out = append(out, lineText(l))
	}
	if s.Finished() {
		footer := fmt.Sprintf("[%s] %s", strings.ToUpper(s.State), elapsed)
		if e := oneLine(s.Error); e != "" {
			footer += " | " + cutEnd(e, 200)
		}
		if s.Tokens > 0 {
			footer += " | " + formatTokens(s.Tokens) + " tokens"
		}
		out = append(out, footer)
	}
	return strings.Join(out, "\n")
}

// renderMessage is the post's message: the plain box in a code fence no line can close.
func renderMessage(s *Session, nowMs int64) string {
	body := renderPlain(s, nowMs)
	fence := "```"
	for strings.Contains(body, fence) {
		fence += "`"
	}
	return fence + "\n" + body + "\n" + fence
}

func lineText(l Line) string {
	mark := ""
	switch {
	case l.Kind == KindTool && l.Status == StatusOk:
		mark = " [OK]"
	case (l.Kind == KindTool || l.Kind == KindSubAgent) && l.Status == StatusErr:
		mark = " [ERR]"
	}
	return strings.Repeat("  ", int(l.Depth)+1) + oneLine(l.Text) + mark
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func cutEnd(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// formatElapsed: 38s, 4m05s, 1h02m (format_elapsed in agent/src/render/format.rs).
func formatElapsed(ms int64) string {
	s := max(ms, 0) / 1000
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
	}
}

// formatTokens: 980, 12.4k, 124k, 1.2M (format_tokens in format.rs).
func formatTokens(n uint64) string {
	if n < 1000 {
		return fmt.Sprintf("%d", n)
	}
	for _, u := range []struct {
		div  uint64
		unit string
	}{{1_000, "k"}, {1_000_000, "M"}, {1_000_000_000, "G"}} {
		tenths := (n/u.div)*10 + ((n%u.div)*10+u.div/2)/u.div
		if tenths < 1000 {
			if tenths%10 == 0 {
				return fmt.Sprintf("%d%s", tenths/10, u.unit)
			}
			return fmt.Sprintf("%d.%d%s", tenths/10, tenths%10, u.unit)
		}
		whole := n/u.div + (n%u.div+u.div/2)/u.div
		if whole < 1000 {
			return fmt.Sprintf("%d%s", whole, u.unit)
		}
	}
	return fmt.Sprintf("%dG", n/1_000_000_000)
}
