import { createRoot } from 'react-dom/client';

function App() {
  return (
    <main style={{ fontFamily: 'system-ui', padding: 24 }}>
      <h1>Relay</h1>
      <p>The browser client is being built. The API is live under /api.</p>
    </main>
  );
}

createRoot(document.getElementById('root')!).render(<App />);
