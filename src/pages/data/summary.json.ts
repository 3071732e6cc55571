// The report's computed summary (counts and verdict inputs); the report's summary numbers point into it.
import type { APIRoute } from 'astro';
import { siteData } from '../../site/data.ts';

export const GET: APIRoute = () => new Response(JSON.stringify(siteData().summary, null, 1), { headers: { 'Content-Type': 'application/json' } });
