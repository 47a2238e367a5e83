// gr.HTML js_on_load of the suggestions table: `element` is the table's component and
// `trigger` sends Python the click (screen.py _Screen.on_table) with the row and the action.
element.addEventListener('click', (ev) => {
  const button = ev.target.closest('button[data-action]');
  if (button) {
    if (button.disabled) return;
    trigger('click', {action: button.dataset.action, item: Number(button.dataset.item)});
    if (button.dataset.action === 'replace') {
      const box = document.querySelector('#code-search textarea, #code-search input');
      if (box) box.focus();
    }
    return;
  }
  const row = ev.target.closest('tr[data-item]');
  if (row) trigger('click', {action: 'select', item: Number(row.dataset.item)});
});
