/*

accel_drain: the accelerator's drain, which writes a finished tile's sums beside the next
tile's beats

Contract: capture (one cycle) takes the finished tile's extents (tile_nf filter lanes,
tile_n1 rows, tile_n0 columns or WU channel lanes) and result bases (tile_fb: FP/BP
(o0*H + y0)*W + x0 with o0, y0 and x0 the tile's first channel, row and column; tile_wu:
WU t3*TC*POF*KK*POF + ky*K*POF + kx*POF; tile_c0q, tile_c0r, tile_c0q_g: WU c0 div POF,
c0 mod POF and (c0 div POF)*POF*KK*POF). snap (one cycle, at or after capture) starts
the drain: the sums are in accel_mac's shadow. busy is high from the cycle after snap
until the cycle after the last feed. While busy, the drain feeds one beat per cycle
with can_issue (the write-back FIFOs have room): feed says so, and sel_p, sel_f pick the
beat's sums from accel_mac (sel_p is lane 0's pixel lane, two's complement), strb the
words of the line the beat fills, addr its DRAM address.

    FP/BP   beat (df, d1, d0): filter lane df, row d1, column d0 (DW columns per beat
            with cfg_line, the row drain); addr = dst + tile_fb + df*H*W + d1*W + d0, or
            aux for the mask pass of a fused ReLU (cfg_fused_fp: each beat twice, pass 0
            then 1)
    WU      beat (df, d0) of one channel lane each, addr dst + tile_wu + the cyclic slot
            of (df, c0 + d0); with cfg_line, per filter the lines of its POF-word group
            that channels c0.. fill: positions ds = (df + c0) mod POF onwards, the line
            at position dq holding channel lane dj + k in word k (lanes outside
            0..tile_n0-1 strobed off)

idx_fb is the FP/BP beat's index in the item's map (a BP with a fused ReLU reads the
mask there). The rules for cfg_line are hwgen.compiler.lines.wide_drain.

Timing: a beat per cycle while can_issue; capture and snap may come in the same cycle.

Reset: rst is synchronous and active high; it stops the drain (busy low).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_drain #
(
    // MAC lanes along output x (>= 1)
    parameter POX = 2,
    // MAC lanes along output channels (>= 1)
    parameter POF = 4,
    // DRAM words per line = lanes of a line drain, a power of two in 1..64
    parameter DW = 1
)
(
    input  wire                clk,
    input  wire                rst,

    /*
     * The finished tile
     */
    input  wire                capture,
    input  wire [31:0]         tile_nf,
    input  wire [31:0]         tile_n1,
    input  wire [31:0]         tile_n0,
    input  wire [31:0]         tile_fb,
    input  wire [31:0]         tile_wu,
    input  wire [31:0]         tile_c0q,
    input  wire [31:0]         tile_c0r,
    input  wire [31:0]         tile_c0q_g,
    input  wire                snap,
    output wire                busy,

    /*
     * The instruction and item
     */
    input  wire                cfg_wu,
    input  wire                cfg_line,
    input  wire                cfg_fused_fp,
    input  wire [31:0]         cfg_w,
    input  wire [31:0]         cfg_hw,
    input  wire [31:0]         cfg_kk_pof,
    input  wire [31:0]         cfg_pof_kk_pof,
    input  wire [31:0]         item_dst,
    input  wire [31:0]         item_aux,

    /*
     * Beats
     */
    input  wire                can_issue,
    output wire                feed,
    output wire [31:0]         sel_p,
    output wire [31:0]         sel_f,
    output wire [DW-1:0]       strb,
    output wire [31:0]         addr,
    output wire                pass,
    output wire [31:0]         idx_fb
);

// check configuration
initial begin
    if (POX < 1 || POF < 1) begin
        $error("Error: POX and POF must be at least 1 (instance %m)");
        $finish;
    end
    if (DW < 1 || DW > 64 || (DW & (DW - 1)) != 0) begin
        $error("Error: DW must be a power of two in 1..64, got %0d (instance %m)", DW);
        $finish;
    end
end

reg        run_reg;
// counters and their products
reg [31:0] df_reg, d1_reg, d0_reg;
reg [31:0] dp_reg;      // pixel lane: FP/BP d1*POX + d0, WU d0
reg [31:0] d1_pox_reg;  // FP/BP d1*POX
reg [31:0] df_hw_reg;   // FP/BP df*H*W
reg [31:0] d1_w_reg;    // FP/BP d1*W
reg [31:0] df_g_reg;    // WU df*KK*POF
reg [31:0] cq_reg, cr_reg;  // WU (c0 + d0) div POF, mod POF
reg [31:0] cq_g_reg;    // WU cq*POF*KK*POF
reg        pass_reg;    // a fused ReLU drains each beat twice: 0 y, 1 its mask
reg [31:0] ds_reg, dq_reg, dj_reg;  // WU line drain: ds, dq, dj above
// the captured tile
reg [31:0] nf_reg, n1_reg, n0_reg, fb_reg, wu_reg, c0q_reg, c0r_reg, c0q_g_reg;

wire        wu_line = cfg_wu && cfg_line;
wire [31:0] dstep = cfg_line ? DW : 32'd1;  // results per beat
wire [31:0] ds_next = ds_reg == POF - 1 ? 32'd0 : ds_reg + 1;
// a tile captured as the drain starts takes effect at once
wire [31:0] c0q_src = capture ? tile_c0q : c0q_reg;
wire [31:0] c0r_src = capture ? tile_c0r : c0r_reg;
wire [31:0] c0q_g_src = capture ? tile_c0q_g : c0q_g_reg;
wire        row_end = wu_line ? $signed(dj_reg) + DW >= $signed(n0_reg) : d0_reg + dstep >= n0_reg;
wire        last = df_reg == nf_reg - 1 && d1_reg == n1_reg - 1 && row_end;

assign busy = run_reg;
assign feed = run_reg && can_issue;
assign sel_p = wu_line ? dj_reg : dp_reg;
assign sel_f = df_reg;
assign pass = pass_reg;
assign idx_fb = fb_reg + df_hw_reg + d1_w_reg + d0_reg;

genvar gk;
generate
for (gk = 0; gk < DW; gk = gk + 1) begin : strobe
    assign strb[gk] = wu_line ? $signed(dj_reg) + gk >= 0 && $signed(dj_reg) + gk < $signed(n0_reg)
                              : d0_reg + gk < n0_reg;
end
endgenerate

// WU: word (df + c mod POF) mod POF of the filter's group, or the line at dq
wire [31:0] wu_bank_sum = df_reg + cr_reg;
wire [31:0] wu_bank = wu_bank_sum >= POF ? wu_bank_sum - POF : wu_bank_sum;
assign addr = cfg_wu ? item_dst + wu_reg + cq_g_reg + df_g_reg + (wu_line ? dq_reg : wu_bank)
                     : (pass_reg ? item_aux : item_dst) + idx_fb;

always @(posedge clk) begin
    if (capture) begin
        nf_reg <= tile_nf;
        n1_reg <= tile_n1;
        n0_reg <= tile_n0;
        fb_reg <= tile_fb;
        wu_reg <= tile_wu;
        c0q_reg <= tile_c0q;
        c0r_reg <= tile_c0r;
        c0q_g_reg <= tile_c0q_g;
    end
    if (snap) begin
        run_reg <= 1'b1;
        df_reg <= 32'd0; d1_reg <= 32'd0; d0_reg <= 32'd0;
        dp_reg <= 32'd0; d1_pox_reg <= 32'd0; df_hw_reg <= 32'd0; d1_w_reg <= 32'd0;
        df_g_reg <= 32'd0; cq_reg <= c0q_src; cr_reg <= c0r_src; cq_g_reg <= c0q_g_src;
        pass_reg <= 1'b0;
        ds_reg <= c0r_src;
        dj_reg <= -(c0r_src & (DW - 1));
        dq_reg <= c0r_src & ~(DW - 1);
    end else if (feed) begin
        if (cfg_fused_fp) begin
            pass_reg <= !pass_reg;
        end
        // a fused ReLU's drain steps after the mask pass of each beat
        if (!cfg_fused_fp || pass_reg) begin
            if (wu_line) begin
                // the filter's next line, or the next filter's first
                if (!row_end) begin
                    dj_reg <= dj_reg + DW;
                    dq_reg <= dq_reg + DW == POF ? 32'd0 : dq_reg + DW;
                end else begin
                    df_reg <= df_reg + 1;
                    df_g_reg <= df_g_reg + cfg_kk_pof;
                    ds_reg <= ds_next;
                    dj_reg <= -(ds_next & (DW - 1));
                    dq_reg <= ds_next & ~(DW - 1);
                end
            end else if (d0_reg + dstep < n0_reg) begin
                d0_reg <= d0_reg + dstep;
                dp_reg <= dp_reg + dstep;
                if (cr_reg == POF - 1) begin
                    cr_reg <= 32'd0;
                    cq_reg <= cq_reg + 1;
                    cq_g_reg <= cq_g_reg + cfg_pof_kk_pof;
                end else begin
                    cr_reg <= cr_reg + 1;
                end
            end else begin
                d0_reg <= 32'd0;
                cq_reg <= c0q_reg; cr_reg <= c0r_reg; cq_g_reg <= c0q_g_reg;
                if (d1_reg != n1_reg - 1) begin
                    d1_reg <= d1_reg + 1;
                    d1_w_reg <= d1_w_reg + cfg_w;
                    d1_pox_reg <= d1_pox_reg + POX;
                    dp_reg <= d1_pox_reg + POX;
                end else begin
                    d1_reg <= 32'd0;
                    d1_w_reg <= 32'd0;
                    d1_pox_reg <= 32'd0;
                    dp_reg <= 32'd0;
                    df_reg <= df_reg + 1;
                    df_hw_reg <= df_hw_reg + cfg_hw;
                    df_g_reg <= df_g_reg + cfg_kk_pof;
                end
            end
            if (last) begin
                run_reg <= 1'b0;
            end
        end
    end
    if (rst) begin
        run_reg <= 1'b0;
    end
end

endmodule

`resetall
