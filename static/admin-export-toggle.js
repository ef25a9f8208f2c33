// The export page's "Select all" toggle, bound here instead of in an inline onchange attribute
// (the Content-Security-Policy runs no inline script). onSelectToggleChange comes from
// django-import-export's export_selectable_fields.js, loaded by the form's media.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("input.select-toggle").forEach((toggle) => {
    toggle.addEventListener("change", onSelectToggleChange);
  });
});
