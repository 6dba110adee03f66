/**
 * The timeline page's stylesheet, inlined into the page (no external assets).
 */

/** CSS of the timeline page. */
export const TIMELINE_CSS = `
:root{--fg:#1d2330;--muted:#5d6678;--line:#d9dde5;--bg:#fff;--panel:#f6f7f9;--red:#c62828;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
header,section,details.text{padding:12px 20px}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:0 0 8px}
code,pre,.mono{font-family:var(--mono);font-size:12px}
.meta{color:var(--muted);margin:0}
.meta.token{display:flex;gap:6px;align-items:baseline}
.meta.token code{flex:1 1 auto;white-space:nowrap;overflow-x:auto;background:var(--panel);padding:1px 6px;border-radius:4px}
details.more{margin:0 0 10px}
details.more>summary{cursor:pointer;color:var(--red);font-weight:600;margin-bottom:8px}
.viol-note{color:var(--red);font-weight:600;margin:4px 0}
.violation{border:1px solid #f1b7b7;border-left:6px solid var(--red);background:#fff6f6;border-radius:6px;padding:10px 14px;margin:0 0 10px}
.violation h2{margin:0 0 4px}
.rule-id{color:var(--red);font-family:var(--mono);font-size:16px}
.violation .explanation{margin:4px 0;font-weight:600}
.violation .holds{margin:4px 0;color:var(--muted)}
.violation dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 0}
.violation dt{color:var(--muted)}
.violation dd{margin:0;font-family:var(--mono);font-size:12px}
.violation dd div{white-space:pre-wrap}
a.goto,button{cursor:pointer}
a.goto{color:var(--red)}
.toolbar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin-bottom:8px}
.toolbar button{font:inherit;padding:2px 10px;border:1px solid var(--line);border-radius:4px;background:#fff}
.legend{display:flex;gap:10px;flex-wrap:wrap;color:var(--muted);font-size:12px}
.legend span{display:inline-flex;align-items:center;gap:4px}
.legend i{display:inline-block;width:14px;height:12px;border-radius:2px}
.tl{display:flex;border:1px solid var(--line);border-radius:6px;overflow:hidden;background:#fff}
.tl-labels{position:relative;flex:0 0 200px;border-right:1px solid var(--line);background:var(--panel)}
.tl-labels div{position:absolute;left:0;right:0;padding:0 8px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;font-size:12px;display:flex;align-items:center}
.tl-labels .kind{color:var(--muted);font-size:10px;margin-left:auto;padding-left:6px}
.tl-labels .group{font-weight:600;color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.04em}
.tl-labels .group.focus{text-transform:none;letter-spacing:0;color:var(--fg);font-family:var(--mono)}
.tl-scroll{position:relative;flex:1 1 auto;overflow-x:auto;overflow-y:hidden}
.tl-canvas{position:relative}
.tl-canvas>div,.dyn>div{position:absolute}
.lane-bg{left:0;right:0;border-bottom:1px solid #eef0f4}
.lane-bg.odd{background:#fafbfc}
.tick{top:0;height:18px;font-size:10px;color:var(--muted);border-left:1px solid var(--line);padding-left:2px;white-space:nowrap}
.stepline{width:0;border-left:1px dotted #e3e6ec}
.ev{height:18px;border-radius:3px;font:10px/18px var(--mono);text-align:center;overflow:hidden;color:#fff;cursor:pointer;white-space:nowrap;box-shadow:0 0 0 1px rgba(0,0,0,.08)}
.ev.dim{opacity:.35}
.ev:hover{outline:2px solid #222;z-index:5}
.ev.sel{outline:2px solid #111;outline-offset:1px;z-index:6}
.ev.viol-ev{box-shadow:0 0 0 2px var(--red);z-index:4}
.cat-inv{background:#6a3fb5}.cat-callback{background:#9b7bd4}.cat-cpu{background:#1f6fd1}.cat-access{background:#5aa0e6}
.cat-device{background:#0f8a6a}.cat-tlb{background:#34b08a}.cat-page{background:#b7791f}.cat-lock{background:#9aa3b2}
.cat-task{background:#c3c9d4;color:#333}.cat-mm{background:#446}.cat-warn{background:#e05d00}
.lane-inv{background:rgba(106,63,181,.07);border-left:1px solid rgba(106,63,181,.35);border-right:1px solid rgba(106,63,181,.35)}
.span{height:18px;border-radius:3px;font:11px/18px var(--mono);white-space:nowrap;overflow:visible;cursor:pointer}
.span .cb,.span .chg{position:absolute;top:0;height:18px}
.span .cb{left:0;background:#d9ccf3;border-radius:3px 0 0 3px}
.span .chg{background:#b59be6;border-radius:0 3px 3px 0}
.span.nb .cb,.span.nb .chg{background-image:repeating-linear-gradient(135deg,transparent 0 4px,rgba(255,255,255,.55) 4px 8px)}
.span.open .chg{border-right:2px dashed #6a3fb5}
.span.dim{opacity:.45}
.span .lbl{position:absolute;left:4px;top:0;color:#2b1c55;pointer-events:none;overflow:hidden;text-overflow:ellipsis}
.section-h{left:0;right:0;font-size:11px;font-weight:600;color:var(--muted);border-top:1px solid var(--line);background:var(--panel);padding:0 6px}
.seg{height:18px;border-radius:3px;font:11px/18px var(--mono);padding:0 4px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;border:1px solid rgba(0,0,0,.12)}
.seg.present-w{background:#cfe5ff}.seg.present-r{background:#e6f0fb}.seg.protnone{background:#eceff3}.seg.swap{background:#eee}
.seg.migration{background:#ffe2b8}.seg.devpriv{background:#e6dcfa}.seg.devexcl{background:#f6d6f0}
.seg.dev-w{background:#c9f0df}.seg.dev-r{background:#e3f7ee}.seg.dma{background:#fbe8c8}.seg.quiesced{background:#e4e4e4;color:#555}
.seg.stale{background:repeating-linear-gradient(135deg,#ffd5d5 0 6px,#ffb3b3 6px 12px);border-color:var(--red);color:#7a0000;font-weight:600}
.trace-end{width:0;border-left:2px solid #9aa3b2}
.vline{width:0;border-left:2px solid var(--red);z-index:3;pointer-events:none}
.vmark{background:var(--red);color:#fff;font:600 11px/16px var(--mono);width:14px;text-align:center;border-radius:3px;z-index:7;cursor:pointer}
.vflag{z-index:9;background:var(--red);color:#fff;font:600 11px/16px var(--mono);padding:1px 6px;border-radius:3px;white-space:nowrap;cursor:pointer}
.tip{position:fixed;display:none;max-width:640px;background:#1d2330;color:#fff;font:12px/1.4 var(--mono);padding:6px 8px;border-radius:4px;pointer-events:none;z-index:50;white-space:pre-wrap}
#detail{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-height:48px}
#detail .text{font:13px/1.4 var(--mono);margin:2px 0 6px;white-space:pre-wrap}
#detail table{border-collapse:collapse;font-size:12px}
#detail td{padding:1px 10px 1px 0;vertical-align:top}
#detail td:first-child{color:var(--muted)}
#detail td:last-child{font-family:var(--mono)}
.list-scroll{position:relative;height:320px;overflow-y:auto;border:1px solid var(--line);border-radius:6px}
.list-canvas{position:relative}
.li{position:absolute;left:0;right:0;height:18px;font:12px/18px var(--mono);white-space:nowrap;padding:0 8px;cursor:pointer;overflow:hidden;text-overflow:ellipsis}
.li:hover{background:#eef3fb}
.li.sel{background:#dbe8fb}
.li.viol{color:var(--red);font-weight:600}
.li .st{display:inline-block;width:56px;color:var(--muted);text-align:right;margin-right:8px}
.li .tk{display:inline-block;width:150px;color:var(--muted);overflow:hidden;vertical-align:top}
.li.dim{color:#8a93a3}
pre.scenario{white-space:pre-wrap}
.meta.token span{white-space:nowrap}
pre.scenario,pre.report{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px;overflow:auto}
.empty{color:var(--muted);font-style:italic}
`;
