// Models in size order and the diff file of every pair.
import type { APIRoute } from 'astro';
import { siteData, url } from '../../../site/data.ts';

export const GET: APIRoute = () => {
  const d = siteData();
  const body = {
    models: d.models.map((m) => ({ id: m.id, name: m.name, numLayers: m.numLayers })),
    pairs: d.pairs.map((p) => ({ a: p.a, b: p.b, slug: p.slug, neighbours: p.neighbours, json: url(`data/diff/${p.slug}.json`), page: p.neighbours ? url(`diff/${p.slug}/`) : null })),
  };
  return new Response(JSON.stringify(body, null, 1), { headers: { 'Content-Type': 'application/json' } });
};
