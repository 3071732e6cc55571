// Published copies of the validated results files and their provenance manifests, so every number on the pages can be
// traced to its JSON.
import type { APIRoute, GetStaticPaths } from 'astro';
import { siteData } from '../../../site/data.ts';

export const getStaticPaths = (() => {
  const out: { params: { file: string }; props: { body: unknown } }[] = [];
  for (const r of siteData().runs) {
    out.push({ params: { file: r.metricsFile }, props: { body: r.metrics } });
    if (r.examplesFile && r.examples) out.push({ params: { file: r.examplesFile }, props: { body: r.examples } });
  }
  for (const p of siteData().provenance) out.push({ params: { file: p.file }, props: { body: p.provenance } });
  return out;
}) satisfies GetStaticPaths;

export const GET: APIRoute = ({ props }) => new Response(JSON.stringify(props.body), { headers: { 'Content-Type': 'application/json' } });
