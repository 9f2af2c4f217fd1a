/** Light or dark: TensorBoard's own dark mode when the (same-origin) host page can be read, else the OS preference. */

function hostBody() {
  try {
    const body = window.parent && window.parent !== window ? window.parent.document.body : null;
    return body || null;
  } catch (_) {
    return null; // cross-origin host (a proxy that frames us): fall back to prefers-color-scheme
  }
}

export function followTheme(root = document.documentElement) {
  const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const body = hostBody();
  const apply = () => {
    const dark = body ? body.classList.contains("dark-mode") : !!(media && media.matches);
    root.classList.toggle("dark", dark);
  };
  apply();
  if (body) new window.parent.MutationObserver(apply).observe(body, { attributes: true, attributeFilter: ["class"] });
  else if (media && media.addEventListener) media.addEventListener("change", apply);
}
