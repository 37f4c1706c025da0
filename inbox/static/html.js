// Preact + htm: JSX-like templates with no build step (the import map in index.html
// resolves these names to /vendor/*.mjs).
import { h, render, Fragment } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);
export { render, Fragment };
