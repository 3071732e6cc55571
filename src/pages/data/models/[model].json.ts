// Model cards as published data.
import type { APIRoute, GetStaticPaths } from 'astro';
import { siteData } from '../../../site/data.ts';

export const getStaticPaths = (() => siteData().models.filter((m) => m.card).map((m) => ({ params: { model: m.id }, props: { card: m.card } }))) satisfies GetStaticPaths;

export const GET: APIRoute = ({ props }) => new Response(JSON.stringify(props.card, null, 1), { headers: { 'Content-Type': 'application/json' } });
