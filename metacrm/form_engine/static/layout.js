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
