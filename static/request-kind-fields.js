// The request form shows only the fields of the kind chosen: each kind's own fields carry
// data-kinds (from approvals.forms.REQUEST_KIND_FIELDS); the server hides them for the kind it
// rendered, and this follows the choice as it changes. Without script every field shows.
document.addEventListener("DOMContentLoaded", () => {
  const kind = document.querySelector('select[name="kind"]');
  if (!kind) return;
  const show = () => {
    kind.form.querySelectorAll("[data-kinds]").forEach((row) => {
      row.hidden = !row.dataset.kinds.split(" ").includes(kind.value);
    });
  };
  kind.addEventListener("change", show);
  show();
});
