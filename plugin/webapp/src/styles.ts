// Colours come from the user's Mattermost theme through the CSS variables the webapp sets on the
// page (--center-channel-bg-rgb, --online-indicator-rgb, …), so light, dark and custom themes
// all fit; the fallbacks are the default light theme's.

export const CSS = `
.ls-box { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12px; line-height: 18px;
  color: rgb(var(--center-channel-color-rgb, 63, 67, 80));
  background: rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.04);
  border: 1px solid rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.16); border-radius: 4px;
  margin: 4px 0; max-width: 720px; overflow: hidden; }
.ls-head, .ls-foot { display: flex; align-items: center; gap: 8px; padding: 4px 10px; font-weight: 600;
  background: rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.06); }
.ls-foot { border-top: 1px solid rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.08); }
.ls-body { max-height: 320px; overflow-y: auto; padding: 4px 0; }
.ls-compact .ls-body { max-height: 160px; }
.ls-line { white-space: pre-wrap; word-break: break-word; padding: 0 10px; }
.ls-line.ls-sub { cursor: pointer; user-select: none; }
.ls-toggle { display: inline-block; width: 12px; opacity: 0.64; }
.ls-ok { color: rgb(var(--online-indicator-rgb, 6, 214, 160)); font-weight: 600; }
.ls-err { color: rgb(var(--error-text-color-rgb, 210, 75, 78)); font-weight: 600; }
.ls-earlier { opacity: 0.56; font-style: italic; padding: 0 10px; }
.ls-dot { width: 8px; height: 8px; border-radius: 50%; flex: none;
  background: rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.48); }
.ls-dot.ls-active { background: rgb(var(--online-indicator-rgb, 6, 214, 160)); animation: ls-pulse 1.4s ease-in-out infinite; }
.ls-dot.ls-error { background: rgb(var(--error-text-color-rgb, 210, 75, 78)); }
.ls-dot.ls-interrupted { background: rgb(var(--away-indicator-rgb, 255, 188, 31)); }
@keyframes ls-pulse { 0%, 100% { opacity: 1; transform: scale(1); } 50% { opacity: 0.35; transform: scale(0.8); } }
.ls-state-error .ls-foot { color: rgb(var(--error-text-color-rgb, 210, 75, 78)); }
.ls-panel { padding: 12px; color: rgb(var(--center-channel-color-rgb, 63, 67, 80));
  background: rgb(var(--center-channel-bg-rgb, 255, 255, 255)); height: 100%; overflow-y: auto; box-sizing: border-box; }
.ls-panel h4 { margin: 0 0 8px; font-size: 14px; }
.ls-card { cursor: pointer; margin-bottom: 12px; }
.ls-card .ls-box:hover { border-color: rgb(var(--button-bg-rgb, 28, 88, 217)); }
.ls-empty { opacity: 0.64; }
.ls-widget { position: fixed; z-index: 1000; width: 340px; border-radius: 8px; overflow: hidden;
  color: rgb(var(--center-channel-color-rgb, 63, 67, 80)); background: rgb(var(--center-channel-bg-rgb, 255, 255, 255));
  border: 1px solid rgba(var(--center-channel-color-rgb, 63, 67, 80), 0.16);
  box-shadow: 0 8px 24px rgba(0, 0, 0, 0.16); font-size: 12px; }
.ls-widget-head { display: flex; align-items: center; gap: 8px; padding: 6px 10px; cursor: move; user-select: none;
  background: rgb(var(--sidebar-bg-rgb, 30, 50, 92)); color: rgb(var(--sidebar-text-rgb, 255, 255, 255)); font-weight: 600; }
.ls-widget-title { flex: 1; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.ls-badge { min-width: 18px; padding: 0 6px; border-radius: 9px; text-align: center; font-size: 11px; line-height: 18px;
  background: rgb(var(--mention-bg-rgb, 255, 255, 255)); color: rgb(var(--mention-color-rgb, 30, 50, 92)); }
.ls-widget-btn { background: none; border: none; color: inherit; cursor: pointer; font-size: 14px; padding: 0 2px; }
.ls-widget .ls-box { border: none; border-radius: 0; margin: 0; max-width: none; }
.ls-widget-body { cursor: pointer; padding: 0; font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; }
`;

export function injectStyles(doc: Document = document): void {
    if (doc.getElementById('ls-styles')) {
        return;
    }
    const el = doc.createElement('style');
    el.id = 'ls-styles';
    el.textContent = CSS;
    doc.head.appendChild(el);
}
