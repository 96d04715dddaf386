import { render } from 'preact';
import '../ui/base.css';
import './app.css';
import { App } from './App';

render(<App />, document.getElementById('root') as HTMLElement);

// Installable and usable offline: the service worker keeps the app shell.
if ('serviceWorker' in navigator) void navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => {});
