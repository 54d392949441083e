// The kanban: drag a card to another stage; the server moves it through the record
// service, or refuses (the card goes back where it was and the reason is shown).
document.addEventListener("DOMContentLoaded", () => {
  const board = document.querySelector(".board");
  if (!board || typeof Sortable === "undefined") return;
  const base = board.dataset.moveUrl;
  const message = document.querySelector(".board-message");
  const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  const count = (list, delta) => {
    const el = list.closest(".board-column").querySelector(".board-count");
    el.textContent = String(Number(el.textContent) + delta);
  };
  for (const list of board.querySelectorAll(".board-cards")) {
    Sortable.create(list, {
      group: "board",
      animation: 150,
      onEnd: async (evt) => {
        if (evt.from === evt.to) return;
        const card = evt.item;
        message.hidden = true;
        const body = new URLSearchParams({ stage: evt.to.dataset.stage });
        const response = await fetch(`${base}/${card.dataset.id}/move`, {
          method: "POST",
          headers: { "X-CSRFToken": token, Accept: "application/json" },
          body,
        });
        if (response.ok) {
          count(evt.from, -1);
          count(evt.to, 1);
          return;
        }
        let reason = response.statusText;
        try { reason = (await response.json()).message || reason; } catch (e) { /* not JSON */ }
        evt.from.insertBefore(card, evt.from.children[evt.oldIndex] || null);
        message.textContent = reason;
        message.hidden = false;
      },
    });
  }
});
