// Jump to a box's post (which opens its thread) the way Mattermost links do: through the
// webapp's router when it is exposed, a page load otherwise.
export function jumpToPost(postId: string | undefined): void {
    if (!postId) {
        return;
    }
    const path = `/_redirect/pl/${postId}`;
    const w = window as unknown as {WebappUtils?: {browserHistory?: {push: (p: string) => void}}; basename?: string};
    const history = w.WebappUtils?.browserHistory;
    if (history) {
        history.push(path);
    } else {
        window.location.assign((w.basename ?? '') + path);
    }
}
