// One diff per pair of models (larger model as A); the diff pages and the in-browser pair picker read these.
import type { APIRoute, GetStaticPaths } from 'astro';
import { siteData } from '../../../site/data.ts';

export const getStaticPaths = (() => siteData().pairs.map((p) => ({ params: { slug: p.slug } }))) satisfies GetStaticPaths;

export const GET: APIRoute = ({ params }) => new Response(JSON.stringify(siteData().diff(String(params.slug))), { headers: { 'Content-Type': 'application/json' } });
