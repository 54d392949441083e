// The layout editors: drag items into order (and, on the form layout, between
// sections); each field's section menu follows the drag, and choosing a section from
// the menu moves the field there. The server reads the order and the menus.
document.addEventListener("DOMContentLoaded", () => {
  const lists = document.querySelectorAll(".layout-fields, .column-order");
  if (typeof Sortable !== "undefined") {
    for (const list of lists) {
      Sortable.create(list, {
        group: list.classList.contains("layout-fields") ? "layout" : undefined,
        animation: 150,
        handle: ".grip",
        onAdd: (evt) => {
          const menu = evt.item.querySelector(".layout-place");
          if (menu) menu.value = evt.to.dataset.section;
        },
      });
    }
  }
  for (const menu of document.querySelectorAll(".layout-place")) {
    menu.addEventListener("change", () => {
      const target = document.querySelector(`.layout-fields[data-section="${menu.value}"]`);
      if (target) target.appendChild(menu.closest(".layout-field"));
    });
  }
});
// An API name follows its label until it is typed in itself (`data-name-from`):
// "Deal type" -> deal_type, as Salesforce and EspoCRM suggest one.
document.addEventListener("DOMContentLoaded", () => {
  for (const name of document.querySelectorAll("[data-name-from]")) {
    const source = document.getElementById(name.dataset.nameFrom);
    if (!source) continue;
    let own = name.value !== "";
    const follow = () => {
      if (own) return;
      name.value = source.value.toLowerCase().normalize("NFKD")
        .replace(/[^a-z0-9]+/g, "_").replace(/^[^a-z]+|_+$/g, "").slice(0, 63);
    };
    name.addEventListener("input", () => { own = name.value !== ""; });
    source.addEventListener("input", follow);
    follow();  // a label typed before this script ran (a slow page load)
  }
});
// The automation editor shows only the settings of the trigger chosen.
document.addEventListener("DOMContentLoaded", () => {
  const on = document.getElementById("f-on");
  if (!on) return;
  const show = () => {
    for (const el of document.querySelectorAll("[data-for-trigger]")) {
      el.hidden = el.dataset.forTrigger !== on.value;
    }
  };
  on.addEventListener("change", show);
  show();
});
