// The paper's published numbers (reference only).
import type { APIRoute } from 'astro';
import { PAPER_TABLES } from '../../pipeline/report/paper.ts';

export const GET: APIRoute = () => new Response(JSON.stringify(PAPER_TABLES, null, 1), { headers: { 'Content-Type': 'application/json' } });
