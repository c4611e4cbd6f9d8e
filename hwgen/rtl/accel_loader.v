/*

accel_loader: the accelerator's DRAM loads into XBUF, EBUF and the cyclic weight buffer

Contract: start (one cycle) begins a load of start_len words from DRAM word start_base
into start_target (0: the cyclic weight buffer, 1: XBUF, 2: EBUF), replacing any load
in progress. A wide load (start_wide) requests start_len/DW aligned lines, otherwise
start_len words. While the core gives it the port (active), the loader requests one
line or word per cycle (req_valid/req_ready, in order from start_base); each response
(rsp_valid, rsp_data: the DRAM line that holds the requested address) is written the
same edge into the layout the instruction reads, with counters and no divider (the
layouts are in accel_core's header and docs/accelerator.md, "Banked buffers"):

    weights  cyclic buffer: word i to bank i mod POF, row i div POF
    pixel    (cfg_pixel: FP/BP XBUF) word (c, y, x) to bank (y mod POY)*POX + x mod POX,
             row c*HB*WB + (y div POY)*WB + x div POX
    channel  (cfg_wu: WU XBUF with NB = POX*POY, EBUF with NB = POF) word (n, c, y, x) to
             bank (c + y*W + x) mod NB when NB is a power of two (skewed), else c mod NB;
             row (n*ceil(C/NB) + c div NB)*H*W + y*W + x
    linear   (everything else) word j to bank j mod L, row j div L, L the largest power
             of two <= the banks

A wide response writes its DW words into DW banks at one edge: the assembler sets
start_wide only where the layout puts them in DW distinct banks (hwgen.compiler.lines).
A narrow one writes the word its address selects. done is high once every response of
the load is in.

Timing: one request per cycle while active and req_ready; a response is written at the
edge it arrives (no backpressure on responses).

Reset: rst is synchronous and active high; it ends any load (done stays high).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_loader #
(
    // MAC lanes along output x (>= 1)
    parameter POX = 2,
    // MAC lanes along output y (>= 1)
    parameter POY = 2,
    // MAC lanes along output channels = EBUF and weight buffer banks (>= 1)
    parameter POF = 4,
    // Words per XBUF bank, a power of two >= 2
    parameter XBUF_DEPTH = 1024,
    // Words per EBUF bank, a power of two >= 2
    parameter EBUF_DEPTH = 1024,
    // Words per weight buffer bank (>= 2)
    parameter WBUF_DEPTH = 1024,
    // DRAM words per line, a power of two in 1..64
    parameter DW = 1,
    // Derived values, leave at their defaults
    parameter XAW = XBUF_DEPTH > 1 ? $clog2(XBUF_DEPTH) : 1,
    parameter EAW = EBUF_DEPTH > 1 ? $clog2(EBUF_DEPTH) : 1,
    parameter WAW = WBUF_DEPTH > 1 ? $clog2(WBUF_DEPTH) : 1
)
(
    input  wire                     clk,
    input  wire                     rst,

    /*
     * Command
     */
    input  wire                     start,
    input  wire [1:0]               start_target,
    input  wire [31:0]              start_base,
    input  wire [31:0]              start_len,
    input  wire                     start_wide,
    output wire                     done,

    /*
     * The instruction's layout (accel_core's fields)
     */
    input  wire                     cfg_wu,
    input  wire                     cfg_pixel,
    input  wire [31:0]              cfg_c,
    input  wire [31:0]              cfg_o,
    input  wire [31:0]              cfg_h,
    input  wire [31:0]              cfg_w,
    input  wire [31:0]              cfg_hw,
    input  wire [31:0]              cfg_hbwb,
    input  wire [31:0]              cfg_wb,
    input  wire [31:0]              cfg_cq_hw,
    input  wire [31:0]              cfg_oq_hw,

    /*
     * DRAM reads
     */
    input  wire                     active,
    output wire                     req_valid,
    output wire [31:0]              req_addr,
    input  wire                     req_ready,
    input  wire                     rsp_valid,
    input  wire [DW*16-1:0]         rsp_data,

    /*
     * Buffer writes
     */
    output wire [POX*POY-1:0]       xbuf_wr_en,
    output wire [POX*POY*XAW-1:0]   xbuf_wr_addr,
    output wire [POX*POY*16-1:0]    xbuf_wr_data,
    output wire [POF-1:0]           ebuf_wr_en,
    output wire [POF*EAW-1:0]       ebuf_wr_addr,
    output wire [POF*16-1:0]        ebuf_wr_data,
    output wire [POF-1:0]           wbuf_wr_en,
    output wire [WAW-1:0]           wbuf_wr_addr,
    output wire [POF*16-1:0]        wbuf_wr_data
);

localparam NP = POX * POY;
localparam RW = POF > 1 ? $clog2(POF) : 1;
localparam LDW = DW > 1 ? $clog2(DW) : 0;
localparam DWB = DW > 1 ? $clog2(DW) : 1;
// the linear layout interleaves words over 2**XLB of XBUF's banks, 2**ELB of EBUF's
localparam XLB = $clog2(NP + 1) - 1;
localparam ELB = $clog2(POF + 1) - 1;
// the channel layout is skewed when the bank count is a power of two
localparam XSKEW = (NP & (NP - 1)) == 0;
localparam ESKEW = (POF & (POF - 1)) == 0;

localparam [1:0] T_W = 2'd0, T_X = 2'd1, T_E = 2'd2;

// check configuration
initial begin
    if (POX < 1 || POY < 1 || POF < 1) begin
        $error("Error: POX, POY and POF must be at least 1 (instance %m)");
        $finish;
    end
    if (DW < 1 || DW > 64 || (DW & (DW - 1)) != 0) begin
        $error("Error: DW must be a power of two in 1..64, got %0d (instance %m)", DW);
        $finish;
    end
end

reg [1:0]          target_reg;
reg [31:0]         base_reg, len_reg, req_reg, rsp_reg;  // len, req, rsp: lines or words
reg                wide_reg;
reg [RW-1:0]       wb_bank_reg;
reg [WAW-1:0]      wb_row_reg;
// the position in the layout being written (start clears them)
//   pixel:   lx, ly = x, y; lxr = x mod POX, lxq = x div POX; lyr = y mod POY,
//            lyr_pox = lyr*POX, lyq_wb = (y div POY)*WB; lc_base = c*HB*WB
//   channel: lx = pixel; ly = c; lxr = c mod NB; lyq_wb = (n*CQ + c div NB)*H*W;
//            lc_base = n*CQ*H*W
//   (skewed channel: lsk = (c + pixel) mod NB, the word's bank)
reg [31:0]         lx_reg, ly_reg, lxr_reg, lxq_reg, lyr_reg, lyr_pox_reg, lyq_wb_reg, lc_base_reg;
reg [31:0]         lsk_reg;

wire [31:0] step = wide_reg ? DW : 32'd1;  // words per response

assign done = rsp_reg == len_reg;
assign req_valid = active && req_reg < len_reg;
assign req_addr = base_reg + (wide_reg ? req_reg << LDW : req_reg);

// the response's words; a narrow load keeps the word its address selects
wire [15:0] rsp_word [0:DW-1];
genvar gk;
generate
for (gk = 0; gk < DW; gk = gk + 1) begin : rsp_words
    assign rsp_word[gk] = rsp_data[gk*16 +: 16];
end
endgenerate
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] rsp_off = base_reg + rsp_reg;
/* verilator lint_on UNUSEDSIGNAL */
wire [15:0] rsp_sel = DW > 1 ? rsp_word[rsp_off[DWB-1:0]] : rsp_word[0];
wire [15:0] rline [0:DW-1];  // the line rotated by the first bank: rline[(bank + k) mod DW] = word k

// the first bank and row: pixel (FP/BP XBUF), channel (WU), or linear; a wide load
// writes banks bank .. bank + DW - 1 (the assembler keeps bank a multiple of DW) at one
// row
wire        to_x = target_reg == T_X;
wire        pixel = cfg_pixel && to_x;
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] j = wide_reg ? rsp_reg << LDW : rsp_reg;
wire [31:0] lin_mask = to_x ? (32'd1 << XLB) - 1 : (32'd1 << ELB) - 1;
wire        skew = to_x ? XSKEW : ESKEW;
wire [31:0] bank = cfg_wu ? (skew ? lsk_reg : lxr_reg) : (pixel ? lyr_pox_reg + lxr_reg : j & lin_mask);
// a skewed channel line starts at any bank: rotate it so word k sits at index
// (bank + k) mod DW, and give bank b its word's row (the line's row + k)
wire [31:0] kmask = to_x ? NP - 1 : POF - 1;
wire [31:0] row0 = cfg_wu ? lyq_wb_reg + lx_reg : (pixel ? lc_base_reg + lyq_wb_reg + lxq_reg
                                                 : j >> (to_x ? XLB : ELB));
/* verilator lint_on UNUSEDSIGNAL */

generate
for (gk = 0; gk < DW; gk = gk + 1) begin : rline_of
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] k = gk - bank;
    /* verilator lint_on UNUSEDSIGNAL */
    assign rline[gk] = DW > 1 ? rsp_word[k[DWB-1:0]] : rsp_word[0];
end
for (gk = 0; gk < NP; gk = gk + 1) begin : xbuf_wr
    wire sk = cfg_wu && wide_reg;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] k = (gk - bank) & kmask;  // skewed channel lines: the bank's word
    wire [31:0] row = row0 + (sk ? k : 32'd0);
    /* verilator lint_on UNUSEDSIGNAL */
    wire hit = sk ? k < DW : (wide_reg ? (gk >> LDW) == (bank >> LDW) : gk == bank);
    assign xbuf_wr_en[gk] = to_x && rsp_valid && hit;
    assign xbuf_wr_addr[gk*XAW +: XAW] = row[XAW-1:0];
    assign xbuf_wr_data[gk*16 +: 16] = wide_reg ? rline[gk % DW] : rsp_sel;
end
for (gk = 0; gk < POF; gk = gk + 1) begin : ebuf_wr
    wire sk = cfg_wu && wide_reg;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] k = (gk - bank) & kmask;
    wire [31:0] row = row0 + (sk ? k : 32'd0);
    /* verilator lint_on UNUSEDSIGNAL */
    wire hit = sk ? k < DW : (wide_reg ? (gk >> LDW) == (bank >> LDW) : gk == bank);
    wire whit = wide_reg ? (gk >> LDW) == (wb_bank_reg >> LDW) : gk == wb_bank_reg;
    assign ebuf_wr_en[gk] = target_reg == T_E && rsp_valid && hit;
    assign ebuf_wr_addr[gk*EAW +: EAW] = row[EAW-1:0];
    assign ebuf_wr_data[gk*16 +: 16] = wide_reg ? rline[gk % DW] : rsp_sel;
    assign wbuf_wr_en[gk] = target_reg == T_W && rsp_valid && whit;
    assign wbuf_wr_data[gk*16 +: 16] = wide_reg ? rsp_word[gk % DW] : rsp_sel;
end
endgenerate
assign wbuf_wr_addr = wb_row_reg;

// the next position after one word or one line of `step` words (see the registers):
// channel layout with NB banks, CH channels and IMG rows per image (a line lies in one
// channel: DW divides H*W), or pixel layout (a line lies in one row: DW divides POX and W)
task step_layout;
    input [31:0] nb;
    input [31:0] ch;
    input [31:0] img;
    begin
        if (cfg_wu) begin
            if (lx_reg != cfg_hw - step) begin
                lx_reg <= lx_reg + step;
                lsk_reg <= (lsk_reg + step) & (nb - 1);
            end else begin
                lx_reg <= 32'd0;
                if (ly_reg == ch - 1) begin
                    ly_reg <= 32'd0;
                    lxr_reg <= 32'd0;
                    lsk_reg <= 32'd0;
                    lc_base_reg <= lc_base_reg + img;
                    lyq_wb_reg <= lc_base_reg + img;
                end else begin
                    ly_reg <= ly_reg + 1;
                    if (lxr_reg == nb - 1) begin
                        lxr_reg <= 32'd0;
                        lsk_reg <= 32'd0;
                        lyq_wb_reg <= lyq_wb_reg + cfg_hw;
                    end else begin
                        lxr_reg <= lxr_reg + 1;
                        lsk_reg <= lxr_reg + 1;
                    end
                end
            end
        end else if (lx_reg != cfg_w - step) begin
            lx_reg <= lx_reg + step;
            if (lxr_reg == POX - step) begin
                lxr_reg <= 32'd0;
                lxq_reg <= lxq_reg + 1;
            end else begin
                lxr_reg <= lxr_reg + step;
            end
        end else begin
            lx_reg <= 32'd0;
            lxr_reg <= 32'd0;
            lxq_reg <= 32'd0;
            if (ly_reg == cfg_h - 1) begin
                ly_reg <= 32'd0;
                lyr_reg <= 32'd0;
                lyr_pox_reg <= 32'd0;
                lyq_wb_reg <= 32'd0;
                lc_base_reg <= lc_base_reg + cfg_hbwb;
            end else begin
                ly_reg <= ly_reg + 1;
                if (lyr_reg == POY - 1) begin
                    lyr_reg <= 32'd0;
                    lyr_pox_reg <= 32'd0;
                    lyq_wb_reg <= lyq_wb_reg + cfg_wb;
                end else begin
                    lyr_reg <= lyr_reg + 1;
                    lyr_pox_reg <= lyr_pox_reg + POX;
                end
            end
        end
    end
endtask

always @(posedge clk) begin
    if (start) begin
        target_reg <= start_target;
        base_reg <= start_base;
        len_reg <= start_wide ? start_len >> LDW : start_len;
        wide_reg <= start_wide;
        req_reg <= 32'd0;
        rsp_reg <= 32'd0;
        wb_bank_reg <= {RW{1'b0}};
        wb_row_reg <= {WAW{1'b0}};
        lx_reg <= 32'd0; ly_reg <= 32'd0; lxr_reg <= 32'd0; lxq_reg <= 32'd0; lsk_reg <= 32'd0;
        lyr_reg <= 32'd0; lyr_pox_reg <= 32'd0; lyq_wb_reg <= 32'd0; lc_base_reg <= 32'd0;
    end else begin
        if (req_valid && req_ready) begin
            req_reg <= req_reg + 1;
        end
        if (rsp_valid) begin
            rsp_reg <= rsp_reg + 1;
            if (to_x) begin
                step_layout(NP, cfg_c, cfg_cq_hw);
            end else begin
                step_layout(POF, cfg_o, cfg_oq_hw);
            end
            if ({{(32-RW){1'b0}}, wb_bank_reg} + step >= POF) begin
                wb_bank_reg <= {RW{1'b0}};
                wb_row_reg <= wb_row_reg + 1'b1;
            end else begin
                wb_bank_reg <= wb_bank_reg + step[RW-1:0];
            end
        end
    end
    if (rst) begin
        len_reg <= 32'd0;
        rsp_reg <= 32'd0;
        req_reg <= 32'd0;
    end
end

endmodule

`resetall
