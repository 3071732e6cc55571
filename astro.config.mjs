// The report site. Pages read only the pipeline's results under cache/ and content/.
// Maths: Astro 7's default Markdown processor (Sätteri) does not run remark/rehype plugins, so remark-math +
// rehype-katex would be ignored here; formulas are rendered with KaTeX at build time by src/components/Tex.astro.
import { defineConfig } from 'astro/config';
import mdx from '@astrojs/mdx';

export default defineConfig({
  // ICL_LAB_BASE lets the static site live under a sub-path (e.g. /icl-lab/).
  base: process.env.ICL_LAB_BASE ?? '/',
  integrations: [mdx()],
  outDir: 'dist',
});
