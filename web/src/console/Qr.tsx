// A QR code as SVG elements (no inline style, no data: URI: the page's CSP allows neither).
import { encode } from 'uqr';

export function Qr(p: { text: string; label: string }) {
  const qr = encode(p.text, { ecc: 'M', border: 2 });
  // One path of unit squares, one per dark module.
  let d = '';
  qr.data.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`;
    }),
  );
  return (
    <svg class="qr" viewBox={`0 0 ${qr.size} ${qr.size}`} role="img" aria-label={p.label} shape-rendering="crispEdges" data-qr-size={qr.size}>
      <rect width={qr.size} height={qr.size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
