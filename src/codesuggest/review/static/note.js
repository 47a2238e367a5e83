// gr.HTML js_on_load of the note: a click on highlighted evidence selects its code's row;
// `watch` runs again whenever Python sends the note new HTML.
element.addEventListener('click', (ev) => {
  const mark = ev.target.closest('mark[data-item]');
  if (mark) trigger('click', {action: 'select', item: Number(mark.dataset.item)});
});
watch('value', () => {
  // Scroll the note box only, never the page, to bring the selected evidence into view.
  const box = element.querySelector('.cs-note');
  const focus = element.querySelector('.cs-focus');
  if (!box || !focus) return;
  const top = focus.offsetTop, bottom = top + focus.offsetHeight;
  if (top < box.scrollTop || bottom > box.scrollTop + box.clientHeight) {
    box.scrollTop = Math.max(0, top - box.clientHeight / 3);
  }
});
