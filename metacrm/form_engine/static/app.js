// metacrm screens: the few behaviours HTML cannot say (no inline scripts: the CSP forbids them).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-toggle-nav]")) {
    button.addEventListener("click", () => {
      const nav = document.getElementById(button.getAttribute("aria-controls"));
      const open = nav.classList.toggle("open");
      button.setAttribute("aria-expanded", String(open));
    });
  }
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
});

// The server's answer to the form's live round trip (screens.conditions): show, hide and
// mark required exactly the fields it says; the page holds no rule of its own.
document.body.addEventListener("metacrm:conditions", (event) => {
  const { visible = {}, required = {}, defaults = {} } = event.detail || {};
  // a new record's default expressions, as the save would fill them: shown in the
  // fields the user has not typed in (a value the user typed is never replaced)
  for (const [name, value] of Object.entries(defaults)) {
    const input = document.getElementById(`f-${name}`);
    if (input && !input.dataset.typed && (input.value === "" || input.dataset.defaulted)) {
      input.value = value;
      input.dataset.defaulted = "1";
    }
  }
  for (const [name, shown] of Object.entries(visible)) {
    const wrapper = document.getElementById(`w-${name}`);
    if (wrapper) wrapper.hidden = !shown;
  }
  for (const [name, needed] of Object.entries(required)) {
    const mark = document.querySelector(`#w-${name} .req`);
    if (mark) mark.hidden = !needed;
  }
});

// a default shown but not typed is not the user's value: the round trip leaves it out,
// so the server computes it again from what changed
document.body.addEventListener("htmx:configRequest", (event) => {
  if (!event.detail.path.includes("/conditions")) return;
  for (const input of document.querySelectorAll("[data-defaulted]")) {
    if (!input.dataset.typed) delete event.detail.parameters[input.name];
  }
});

// what the user typed in stays theirs (see the defaults above)
document.addEventListener("input", (event) => {
  if (event.target.dataset && event.isTrusted) event.target.dataset.typed = "1";
});

// A destructive form (or button) asks once, saying what will happen (data-confirm).
document.addEventListener("submit", (event) => {
  const source = event.submitter && event.submitter.hasAttribute("data-confirm") ? event.submitter : event.target;
  const message = source.getAttribute && source.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// The designer shows the settings of the chosen type only (all show without script).
function showByType(select) {
  const form = select.closest("form");
  form.querySelectorAll("[data-for-types]").forEach((box) => {
    box.hidden = !box.dataset.forTypes.split(" ").includes(select.value);
  });
}
document.addEventListener("change", (event) => {
  if (event.target.matches && event.target.matches("[data-shows-by-type]")) showByType(event.target);
});
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-shows-by-type]").forEach(showByType);
});
