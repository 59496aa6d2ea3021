// Shows the message module's text. When the module is edited, Vite's hot-reload
// WebSocket brings the new version and this swaps the text in place: no page reload,
// so anything the page holds (window.marker in the test) survives.
import { message } from './message.js';

const target = document.querySelector('#message');
target.textContent = message;

if (import.meta.hot) {
  import.meta.hot.accept('./message.js', (updated) => {
    if (updated) target.textContent = updated.message;
  });
}
