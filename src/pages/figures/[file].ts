// Each figure's data as CSV and JSON.
import type { APIRoute, GetStaticPaths } from 'astro';
import { type FigureDef, allFigures, figureCsv, figureJson } from '../../site/figures.ts';

export const getStaticPaths = (() =>
  allFigures().flatMap((f) => [
    { params: { file: `${f.id}.csv` }, props: { fig: f, kind: 'csv' } },
    { params: { file: `${f.id}.json` }, props: { fig: f, kind: 'json' } },
  ])) satisfies GetStaticPaths;

export const GET: APIRoute = ({ props }) => {
  const fig = props.fig as FigureDef;
  return props.kind === 'csv'
    ? new Response(figureCsv(fig), { headers: { 'Content-Type': 'text/csv; charset=utf-8' } })
    : new Response(figureJson(fig), { headers: { 'Content-Type': 'application/json' } });
};
