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
  const { visible = {}, required = {} } = event.detail || {};
  for (const [name, shown] of Object.entries(visible)) {
    const wrapper = document.getElementById(`w-${name}`);
    if (wrapper) wrapper.hidden = !shown;
  }
  for (const [name, needed] of Object.entries(required)) {
    const mark = document.querySelector(`#w-${name} .req`);
    if (mark) mark.hidden = !needed;
  }
});

// A destructive form (or button) asks once, saying what will happen (data-confirm).
document.addEventListener("submit", (event) => {
  const source = event.submitter && event.submitter.hasAttribute("data-confirm") ? event.submitter : event.target;
  const message = source.getAttribute && source.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
