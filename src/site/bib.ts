// The bibliography: the paper and the follow-ups the report discusses. Order = citation number.

export interface BibEntry {
  key: string;
  authors: string;
  year: number;
  title: string;
  venue: string;
  url?: string;
}

export const BIB: BibEntry[] = [
  { key: 'dai2023', authors: 'Dai, D., Sun, Y., Dong, L., Hao, Y., Ma, S., Sui, Z., Wei, F.', year: 2023, title: 'Why Can GPT Learn In-Context? Language Models Implicitly Perform Gradient Descent as Meta-Optimizers', venue: 'Findings of ACL 2023, pp. 4005-4019', url: 'https://arxiv.org/abs/2212.10559' },
  { key: 'deutch2024', authors: 'Deutch, G., Magar, N., Bar Natan, T., Dar, G.', year: 2024, title: 'In-context Learning and Gradient Descent Revisited', venue: 'NAACL 2024', url: 'https://arxiv.org/abs/2311.07772' },
  { key: 'shen2024', authors: 'Shen, L., Mishra, A., Khashabi, D.', year: 2024, title: 'Position: Do pretrained Transformers Learn In-Context by Gradient Descent?', venue: 'ICML 2024', url: 'https://arxiv.org/abs/2310.08540' },
  { key: 'vonoswald2023', authors: 'von Oswald, J., Niklasson, E., Randazzo, E., Sacramento, J., Mordvintsev, A., Zhmoginov, A., Vladymyrov, M.', year: 2023, title: 'Transformers Learn In-Context by Gradient Descent', venue: 'ICML 2023', url: 'https://arxiv.org/abs/2212.07677' },
  { key: 'chan2022', authors: 'Chan, S. C. Y., Santoro, A., Lampinen, A. K., Wang, J. X., Singh, A., Richemond, P. H., McClelland, J., Hill, F.', year: 2022, title: 'Data Distributional Properties Drive Emergent In-Context Learning in Transformers', venue: 'NeurIPS 2022', url: 'https://arxiv.org/abs/2205.05055' },
  { key: 'reddy2024', authors: 'Reddy, G.', year: 2024, title: 'The Mechanistic Basis of Data Dependence and Abrupt Learning in an In-Context Classification Task', venue: 'ICLR 2024', url: 'https://arxiv.org/abs/2312.03002' },
  { key: 'akyurek2023', authors: 'Akyürek, E., Schuurmans, D., Andreas, J., Ma, T., Zhou, D.', year: 2023, title: 'What Learning Algorithm Is In-Context Learning? Investigations with Linear Models', venue: 'ICLR 2023', url: 'https://arxiv.org/abs/2211.15661' },
  { key: 'fu2024', authors: 'Fu, D., Chen, T.-Q., Jia, R., Sharan, V.', year: 2024, title: 'Transformers Learn to Achieve Second-Order Convergence Rates for In-Context Linear Regression', venue: 'NeurIPS 2024', url: 'https://arxiv.org/abs/2310.17086' },
  { key: 'artetxe2021', authors: 'Artetxe, M., Bhosale, S., Goyal, N., et al.', year: 2021, title: 'Efficient Large Scale Language Modeling with Mixtures of Experts', venue: 'arXiv 2112.10684 (the fairseq dense models the paper uses)', url: 'https://arxiv.org/abs/2112.10684' },
];
