import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { readRuntimeConfig } from './config';
import { applyTheme, loadTheme } from './lib/hooks';
import { App } from './ui/App';
import './styles.css';

// Apply the stored theme before the first render so the page never flashes the wrong one.
applyTheme(loadTheme());

const root = document.getElementById('root');
if (!root) throw new Error('missing #root');
createRoot(root).render(
  <StrictMode>
    <App config={readRuntimeConfig()} />
  </StrictMode>,
);
