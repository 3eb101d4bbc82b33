// The console's small behaviours, wired by data attributes (no inline script: the CSP refuses it).
//  data-show-when="FIELD=VALUE": shown only while the form's FIELD has VALUE (e.g. ordinal labels).
//  data-confirm="TEXT": the form is sent only after the user confirms TEXT.
(() => {
  function fieldValue(form, name) {
    const field = form.elements.namedItem(name);
    if (!field) return null;
    if (field instanceof RadioNodeList) return field.value;
    return field.type === "checkbox" ? String(field.checked) : field.value;
  }

  function applyShowWhen(form) {
    for (const element of form.querySelectorAll("[data-show-when]")) {
      const [name, value] = element.dataset.showWhen.split("=");
      element.hidden = fieldValue(form, name) !== value;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form")) {
      if (form.querySelector("[data-show-when]")) {
        applyShowWhen(form);
        form.addEventListener("change", () => applyShowWhen(form));
      }
    }
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      form.addEventListener("submit", (event) => {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    }
  });
})();
