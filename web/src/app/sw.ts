// The app's service worker (scope /app/): keeps the app shell — its page and the hashed
// assets that page names — so the app opens without the network; its data comes from
// IndexedDB. API calls and the push stream are never cached.
/// <reference lib="webworker" />
const sw = self as unknown as ServiceWorkerGlobalScope;

const CACHE = 'portier-app-v1';
const SHELL = '/app/';

// Keeps a fetched app page and every asset it names (new hashes after an upgrade).
async function keepShell(page: Response): Promise<void> {
  const html = await page.clone().text();
  const urls = [...html.matchAll(/(?:src|href)="(\/(?:assets|app)\/[^"]+)"/g)].map((m) => m[1] as string);
  const cache = await caches.open(CACHE);
  for (const u of urls) {
    if (await cache.match(u)) continue;
    // An asset the page needs must be kept; an icon that fails to load must not stop that.
    try {
      await cache.add(u);
    } catch (e) {
      if (u.startsWith('/assets/')) throw e;
    }
  }
  await cache.put(SHELL, page);
}

sw.addEventListener('install', (e) => {
  e.waitUntil(
    fetch(SHELL, { cache: 'no-cache' })
      .then((res) => (res.ok ? keepShell(res) : undefined))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== location.origin || url.pathname.startsWith('/v1/')) return;
  if (req.mode === 'navigate') {
    // The newest page when online (pages are never cached by HTTP), the kept one when not.
    e.respondWith(
      fetch(req)
        .then((res) => {
          if (res.ok) e.waitUntil(keepShell(res.clone()).catch(() => {}));
          return res;
        })
        .catch(async () => (await caches.match(SHELL)) ?? Response.error()),
    );
    return;
  }
  if (url.pathname.startsWith('/assets/')) {
    // Hashed assets never change: from the cache when there, else from the network.
    e.respondWith(caches.match(req).then((hit) => hit ?? fetch(req)));
  } else if (url.pathname.startsWith('/app/')) {
    // The manifest and icons: fresh when online, kept when not.
    e.respondWith(fetch(req).catch(async () => (await caches.match(req)) ?? Response.error()));
  }
});
