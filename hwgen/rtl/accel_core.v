/*

accel_core: the training accelerator, one layer engine run by a program

Contract (docs/accelerator.md; hwgen.compiler.program is the one definition of the
instruction format): after start, the core executes instructions 0, 1, ... from the
program port until HALT, then holds done high. Each instruction is one layer-phase task
over n_items items (images, on-chip groups, or one weight tensor):

    load   the layer's weights into the cyclic weight buffer (CONV_FP / CONV_BP, once)
    per item:
      load   x_len words from src_a + item*x_len into XBUF and e_len words from
             src_b + item*e_len into EBUF (DRAM reads, in order)
      run    MAC tiles (CONV_*) or vector beats (accel_vu ops), results written to
             dst + item*out_stride + (the op's output index)
      flush  wait until every result is in DRAM

Buffers (accel_banks): XBUF has NP = POX*POY banks, EBUF POF banks, each XBUF_DEPTH or
EBUF_DEPTH words with one read port, so no buffer is copied per lane. The loader
(accel_loader) writes the layout the instruction reads, with counters (no divider):

    pixel    (CONV_FP, CONV_BP XBUF) word (c, y, x) of an image to bank
             (y mod POY)*POX + x mod POX, row c*HB*WB + (y div POY)*WB + x div POX,
             HB = ceil(H/POY), WB = ceil(W/POX). A tap's POX x POY pixels then lie in
             distinct banks at two rows and two columns of quotients; a rotation by
             the tap's (y mod POY, x mod POX) brings bank words to their lanes.
    channel  (CONV_WU XBUF with NB = NP, EBUF with NB = POF) word (n, c, y, x) of a
             group to bank (c + y*W + x) mod NB when NB is a power of two (skewed,
             so a channel's consecutive pixels lie in distinct banks), else c mod NB;
             row (n*ceil(C/NB) + c div NB)*H*W + y*W + x. A channel tile starts at a
             multiple of NB, so every bank reads the same row and lane b takes bank
             (b + pixel) mod NB (skewed) or b.
    linear   (vector ops) word j to bank j mod L, row j div L, L the largest power of
             two <= the banks; vector lane k reads lane 0's address + k (element-wise),
             + 2k (pooling) or + k div 2 (unpooling), each bank the row its lane needs.

CONV_FP, CONV_BP and CONV_WU compute a K x K stride-1 correlation on the POX x POY x POF
array (accel_mac) with exact 64-bit sums; the drain wraps each sum to the instruction's
accumulator width (the plan's, 16..64), requantizes it (fx_requant: shift, rounding,
saturate/wrap) and writes it. Linear layers run as 1 x 1 convolutions of a 1 x 1 image.
A tile's sums are copied into accel_mac's shadow when they are done, and drained from
there (accel_drain) while the next tile multiplies (the next tile waits only while the previous
drain is still running). Fusion (field 0 bits 21, 22; docs/accelerator.md, "Fusion"):
CONV_FP can write a ReLU's y and mask, CONV_BP multiply by a ReLU's mask (loaded into
EBUF), POOL_Y write its argmax and fold a ReLU's mask into it.
The word each lane reads and the DRAM word each result goes to are listed per op in
docs/accelerator.md; the weights and the weight gradients are in the cyclic layout of
hwgen.layout with P = POF, so FP and BP read the same stored words.

DRAM port: word-addressed, 16-bit words, lines of DW words. A request is taken when
mem_req_valid and mem_req_ready are high. A write stores word k of mem_req_wdata at the
line's word k for every k with mem_req_wstrb[k] (the line that holds its address): one
result, or a whole line from the vector unit's DW lanes. A read returns the
aligned line of DW words that holds its address, in request order on mem_rsp_valid (any
latency, no backpressure on responses), word k at mem_rsp_data[k*16 +: 16]. Reads happen
only in load phases, writes only outside them (a drain beside the beats writes while the
lanes multiply).

A load is wide when its instruction says so (field 0 bits 16, 17, 18 for the XBUF, EBUF
and weight loads; hwgen.compiler.lines.wide_loads is the rule): it requests len/DW
aligned lines, one per cycle, and writes each line's DW words into DW banks at one edge.
The assembler sets the flag only where the layout puts a line in DW distinct banks at
one row: the pixel layout when DW divides POX and W, the linear layout when DW <= its
banks, the cyclic weight buffer when DW divides POF; every base and length a multiple of
DW. Other loads request one word per cycle and keep the word their address selects.
A vector op whose operands and results lie on whole lines (field 0 bit 19;
hwgen.compiler.lines.wide_vector: element-wise ops, 2x2 pooling, unpooling) runs DW
lanes of the vector unit: DW elements or adjacent outputs per beat, one line write per
result beat. A drain that writes lines (bit 20; hwgen.compiler.lines.wide_drain) takes
DW lanes per beat through DW requantizer lanes and writes them as one strobed line: an
FP/BP drain DW consecutive pixel lanes of a row (DW divides POX and W), a WU drain the
words of a filter's cyclic group that the tile's channels fill (DW and POX*POY divide
POF).

Program port: prog_addr is registered by the program memory, prog_data is read the cycle
after (a synchronous ROM). trace_valid pulses once per fetched instruction with its
address on trace_pc (the testbench's cycle log).

Timing: a MAC beat per cycle, the tiles' beats back to back while each previous drain
finishes in time; a drain beat (a result, or a line) per cycle, twice for a fused ReLU,
while the write-back FIFOs have room; a vector beat per cycle; every DRAM request (a
word or a line) one cycle plus the DRAM's stalls.
hwgen.perf.accel_cycles models it per instruction.

Address generation only adds: every product of a counter and a shape is a register
stepped with its counter (the "_reg" terms below, each with its invariant in a comment),
and the instruction brings the products of shapes (fields 20..39), so the MAC lanes and
the DW vector lanes' update multipliers are the only multipliers.

Reset: rst is synchronous and active high; it returns to idle and empties the FIFOs.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_core #
(
    // MAC lanes along output x (>= 1)
    parameter POX = 2,
    // MAC lanes along output y (>= 1)
    parameter POY = 2,
    // MAC lanes along output channels = banks of the cyclic weight buffer (>= 1)
    parameter POF = 4,
    // Words per bank of the input buffer XBUF (POX*POY banks: activations, gradients,
    // weights for the update), a power of two
    parameter XBUF_DEPTH = 1024,
    // Words per bank of the second-operand buffer EBUF (POF banks: gradients for WU,
    // masks, argmax, momenta), a power of two
    parameter EBUF_DEPTH = 1024,
    // Words per bank of the cyclic weight buffer (hwgen.layout depth of every layer)
    parameter WBUF_DEPTH = 1024,
    // Address width of the program memory
    parameter PROG_AW = 8,
    // Fraction length of the logits (the loss gradient's target)
    parameter F_Z = 8,
    // Entries of the write-back FIFOs, a power of two >= 16 (hwgen compile sizes it to
    // hold the DRAM stalls of a whole tile's writes; a drain waits only while it is full)
    parameter WB_DEPTH = 16,
    // DRAM words per line (a read returns a line), a power of two in 1..64
    parameter DW = 1,
    // Width of an instruction, hwgen.compiler.program.INSTR_BITS; leave at its default
    parameter INSTR_W = 1312
)
(
    input  wire                clk,
    input  wire                rst,

    /*
     * Control
     */
    input  wire                start,
    output wire                busy,
    output wire                done,

    /*
     * Program memory (synchronous read)
     */
    output wire [PROG_AW-1:0]  prog_addr,
    input  wire [INSTR_W-1:0]  prog_data,

    /*
     * DRAM port
     */
    output wire                mem_req_valid,
    input  wire                mem_req_ready,
    output wire                mem_req_we,
    output wire [31:0]         mem_req_addr,
    output wire [DW*16-1:0]    mem_req_wdata,
    output wire [DW-1:0]       mem_req_wstrb,
    input  wire                mem_rsp_valid,
    input  wire [DW*16-1:0]    mem_rsp_data,

    /*
     * Instruction trace
     */
    output wire                trace_valid,
    output wire [PROG_AW-1:0]  trace_pc
);

localparam NP = POX * POY;
// address widths (1 for an illegal depth, so the guard below can report it)
localparam XAW = XBUF_DEPTH > 1 ? $clog2(XBUF_DEPTH) : 1;
localparam EAW = EBUF_DEPTH > 1 ? $clog2(EBUF_DEPTH) : 1;
localparam WAW = WBUF_DEPTH > 1 ? $clog2(WBUF_DEPTH) : 1;
localparam PW = NP > 1 ? $clog2(NP) : 1;
localparam FW = POF > 1 ? $clog2(POF) : 1;
localparam RW = POF > 1 ? $clog2(POF) : 1;
localparam CNT_W = $clog2(POF + 1);
// the width of a word index within a DRAM line
localparam DWB = DW > 1 ? $clog2(DW) : 1;
// the linear layout interleaves words over the largest power of two of banks:
// 2**XLB of XBUF's NP, 2**ELB of EBUF's POF
localparam XLB = $clog2(NP + 1) - 1;
localparam ELB = $clog2(POF + 1) - 1;
// the channel layout is skewed (bank (c + pixel) mod NB) when NB is a power of two
localparam XSKEW = (NP & (NP - 1)) == 0;
localparam ESKEW = (POF & (POF - 1)) == 0;
localparam LPOX = POX > 1 ? $clog2(POX) : 0;  // with XSKEW, POX is a power of two
localparam FIFO_DEPTH = WB_DEPTH;
localparam FCW = $clog2(WB_DEPTH + 1);
// (a tile's sums are done MAC_PIPE = 6 cycles after its last beat: buffer read 1 +
// operand alignment 2 + mac_array 3; accel_mac's out_done says when)

localparam [7:0] OP_HALT = 8'd0;
localparam [7:0] OP_CONV_FP = 8'd1;
localparam [7:0] OP_CONV_BP = 8'd2;
localparam [7:0] OP_CONV_WU = 8'd3;
localparam [7:0] OP_POOL_Y = 8'd7;
localparam [7:0] OP_POOL_ARG = 8'd8;
localparam [7:0] OP_UNPOOL = 8'd9;
localparam [7:0] OP_LOSS = 8'd10;

localparam [3:0] S_IDLE = 4'd0, S_FETCH = 4'd1, S_FETCH2 = 4'd2, S_PREP1 = 4'd3,
                 S_PREP2 = 4'd4, S_LOADW = 4'd5, S_ITEM = 4'd6, S_LOADX = 4'd7,
                 S_LOADE = 4'd8, S_MAC_BEAT = 4'd9, S_MAC_WAIT = 4'd10,
                 S_VU = 4'd12, S_FLUSH = 4'd13, S_DONE = 4'd14;

// check configuration
initial begin
    if (POX < 1 || POY < 1 || POF < 1) begin
        $error("Error: POX, POY and POF must be at least 1 (instance %m)");
        $finish;
    end
    if (XBUF_DEPTH < 2 || EBUF_DEPTH < 2 || WBUF_DEPTH < 2) begin
        $error("Error: buffer depths must be at least 2 (instance %m)");
        $finish;
    end
    if ((XBUF_DEPTH & (XBUF_DEPTH - 1)) != 0 || (EBUF_DEPTH & (EBUF_DEPTH - 1)) != 0) begin
        $error("Error: XBUF_DEPTH and EBUF_DEPTH must be powers of two, got %0d and %0d (instance %m)",
               XBUF_DEPTH, EBUF_DEPTH);
        $finish;
    end
    if (WB_DEPTH < 16 || (WB_DEPTH & (WB_DEPTH - 1)) != 0) begin
        $error("Error: WB_DEPTH must be a power of two >= 16, got %0d (instance %m)", WB_DEPTH);
        $finish;
    end
    if (DW < 1 || DW > 64 || (DW & (DW - 1)) != 0) begin
        $error("Error: DW must be a power of two in 1..64, got %0d (instance %m)", DW);
        $finish;
    end
    if (INSTR_W != 1312) begin
        $error("Error: INSTR_W must be 1312 (41 fields of 32 bits), got %0d (instance %m)", INSTR_W);
        $finish;
    end
end

// ---------------------------------------------------------------- instruction fields
reg  [INSTR_W-1:0] ir_reg;

wire [7:0]  op = ir_reg[7:0];
wire        flag_relu_gt = ir_reg[8];
wire        flag_sgd_sat = ir_reg[9];
wire        flag_rq_wrap = ir_reg[10];
wire [2:0]  rq_round = ir_reg[14:12];
wire        flag_wide_x = ir_reg[16];
wire        flag_wide_e = ir_reg[17];
wire        flag_wide_w = ir_reg[18];
wire        flag_wide_v = ir_reg[19];  // the vector unit runs DW lanes
wire        flag_wide_d = ir_reg[20];  // the drain writes lines (FP/BP: of a row; WU: of a cyclic group)
wire        flag_fuse = ir_reg[21];    // CONV_FP: ReLU y at dst, mask at aux; POOL_Y: argmax at aux;
                                       // CONV_BP: times the ReLU mask loaded from aux
wire        flag_pool_mask = ir_reg[22];  // POOL_Y: the argmax carries the ReLU mask (EBUF)
wire [31:0] n_items = ir_reg[1*32 +: 32];
wire [31:0] count = ir_reg[2*32 +: 32];
wire [31:0] C = ir_reg[3*32 +: 32];
wire [31:0] H = ir_reg[4*32 +: 32];
wire [31:0] W = ir_reg[5*32 +: 32];
wire [31:0] O = ir_reg[6*32 +: 32];
wire [31:0] K = ir_reg[7*32 +: 32];
wire [31:0] pad = ir_reg[8*32 +: 32];
wire [31:0] src_a = ir_reg[9*32 +: 32];
wire [31:0] src_b = ir_reg[10*32 +: 32];
wire [31:0] dst = ir_reg[11*32 +: 32];
wire [31:0] x_len = ir_reg[12*32 +: 32];
wire [31:0] e_len = ir_reg[13*32 +: 32];
wire [31:0] out_stride = ir_reg[14*32 +: 32];
wire [7:0]  rq_shift = ir_reg[15*32 +: 8];
wire [6:0]  acc_bits = ir_reg[16*32 +: 7];
wire [15:0] sgd_c = ir_reg[17*32 +: 16];
wire [5:0]  sgd_shift = ir_reg[17*32+16 +: 6];
wire [4:0]  sgd_align = ir_reg[17*32+24 +: 5];
wire [31:0] gs = ir_reg[18*32 +: 32];
wire [31:0] w_len = ir_reg[19*32 +: 32];
// products and quotients of the shapes, from the assembler (hwgen.compiler.program.DERIVED)
wire [31:0] hw = ir_reg[20*32 +: 32];
wire [31:0] kk = ir_reg[21*32 +: 32];
wire [31:0] cq_hw = ir_reg[23*32 +: 32];   // ceil(C/NP)*H*W: a WU image in an XBUF bank
wire [31:0] oq_hw = ir_reg[24*32 +: 32];   // ceil(O/POF)*H*W: a WU image in an EBUF bank
wire [31:0] hpwp = ir_reg[25*32 +: 32];
wire [31:0] tiles3 = ir_reg[26*32 +: 32];
wire [31:0] tiles2 = ir_reg[27*32 +: 32];
wire [31:0] tiles1 = ir_reg[28*32 +: 32];
wire [31:0] poy_w = ir_reg[29*32 +: 32];
wire [31:0] hbwb = ir_reg[30*32 +: 32];    // ceil(H/POY)*ceil(W/POX): a channel in an XBUF bank
wire [31:0] pof_hw = ir_reg[31*32 +: 32];
wire [31:0] pof_kk = ir_reg[32*32 +: 32];
wire [31:0] tc_pof_kk = ir_reg[33*32 +: 32];
wire [31:0] kk_pof = ir_reg[34*32 +: 32];
wire [31:0] k_pof = ir_reg[35*32 +: 32];
wire [31:0] pof_kk_pof = ir_reg[36*32 +: 32];
wire [31:0] tc_pof_kk_pof = ir_reg[37*32 +: 32];
wire [31:0] npq_pof_kk_pof = ir_reg[38*32 +: 32];
wire [31:0] wb = ir_reg[39*32 +: 32];      // ceil(W/POX): a row of quotients in an XBUF bank
wire [31:0] aux = ir_reg[40*32 +: 32];    // a fused op's second result base

/* verilator lint_off UNUSEDSIGNAL */
wire [INSTR_W-1:0] ir_unused = ir_reg;
/* verilator lint_on UNUSEDSIGNAL */

wire is_fp = op == OP_CONV_FP;
wire is_bp = op == OP_CONV_BP;
wire is_wu = op == OP_CONV_WU;
wire is_mac = is_fp || is_bp || is_wu;

// ---------------------------------------------------------------- limits and lane offsets
reg [31:0] lim3_reg, lim2_reg, lim1_reg, lim0_reg, blim2_reg, blim1_reg, blim0_reg;
reg [31:0] vlim_c_reg, vlim_y_reg, vlim_x_reg, vlim_w_reg;

// NP = NPQ*POF + NPR: the step of (c0 div POF, c0 mod POF) per WU channel tile
localparam integer NPQ = NP / POF;
localparam integer NPR = NP % POF;

// ---------------------------------------------------------------- state
reg [3:0]          state_reg;
reg [PROG_AW-1:0]  pc_reg;
reg [31:0]         item_reg, item_xa_reg, item_ea_reg, item_dst_reg, item_aux_reg;

// MAC tile counters (t0 fastest) and their products
reg [31:0] t3_reg, t2_reg, t1_reg, t0_reg;
reg [31:0] o0_reg;      // t3*POF: first filter lane's channel (FP o, BP c, WU o)
reg [31:0] o0_hw_reg;   // FP/BP t3*POF*H*W; WU t3*H*W (the tile's row in every EBUF bank)
reg [31:0] t3_w_reg;    // weights: FP t3*TC*POF*KK, BP t3*POF*KK; WU G: t3*TC*POF*KK*POF
reg [31:0] ty0_reg;     // FP/BP t2*POY
reg [31:0] ty0w_reg;    // FP/BP t2*POY*W
reg [31:0] tx0_reg;     // FP/BP t1*POX
reg [31:0] c0_reg;      // WU t2*NP
reg [31:0] c0_hw_reg;   // WU t2*H*W (the tile's row in every XBUF bank)
reg [31:0] t2_wb_reg;   // FP/BP t2*WB (the tile's first row of quotients in XBUF)
reg [31:0] c0q_reg, c0r_reg;  // WU c0 div POF, c0 mod POF
reg [31:0] c0q_g_reg;   // WU (c0 div POF)*POF*KK*POF
reg [31:0] t1_w_reg;    // WU t1*W (the tap's ky*W)
reg [31:0] t1_kpof_reg; // WU t1*K*POF
reg [31:0] t0_pof_reg;  // WU t0*POF
// beat counters (i0 fastest) and their products
reg [31:0] i2_reg, i1_reg, i0_reg;
reg [31:0] i2_xs_reg;   // i2 * (FP/BP HB*WB, WU ceil(C/NP)*H*W): the beat's channel or image
reg [31:0] i2_es_reg;   // WU i2*ceil(O/POF)*H*W
// FP/BP: the tap's first input row yb = ty0 + i1 - pad (BP ty0 + pad - i1), ty0 = t2*POY,
// kept as floor(yb / POY) = t2 + eqy and yb mod POY = yr; the same in x with t1, eqx, xr
reg signed [31:0] eqy_reg, eqy_wb_reg, eqx_reg;  // eqy, eqy*WB, eqx
reg [31:0] yr_reg, xr_reg;
reg [31:0] i1_w_reg;    // i1*W
reg [31:0] i1_k_reg;    // FP/BP i1*K
reg [31:0] rq_reg, rr_reg;  // FP/BP i2 div POF, i2 mod POF
reg [31:0] rq_w_reg;    // FP rq*POF*KK, BP rq*TC*POF*KK
reg [31:0] rr_kk_reg;   // BP rr*KK
// FP/BP: the drained result's index in the item's map (accel_drain)
wire [31:0] drain_idx_fb;

// vector counters and their products
reg [31:0] vc_reg, vy_reg, vx_reg, vw_reg, vj_reg;
reg [31:0] vc_hw_reg;   // POOL vc*H*W
reg [31:0] vy_2w_reg;   // POOL 2*vy*W
reg [31:0] vc_hp_reg;   // UNPOOL vc*(H/2)*(W/2)
reg [31:0] vy_wp_reg;   // UNPOOL (vy div 2)*(W/2)

assign busy = state_reg != S_IDLE && state_reg != S_DONE;
assign done = state_reg == S_DONE;
assign prog_addr = pc_reg;
assign trace_valid = state_reg == S_FETCH;
assign trace_pc = pc_reg;

// ---------------------------------------------------------------- write-back path
wire        afifo_in_valid;
wire [31:0] afifo_in_addr;
wire [DW-1:0] afifo_in_strb, afifo_out_strb;
// a write's kind, decided when its address is queued: 00 plain, 01 a BP result times its
// ReLU mask, 10 a fused ReLU's y, 11 its mask (the drain's result is transformed when it
// reaches the FIFO)
wire [1:0]  afifo_in_kind, afifo_out_kind;
wire [31:0] afifo_out_addr;
/* verilator lint_off UNUSEDSIGNAL */
wire        afifo_out_valid, afifo_in_ready, wfifo_in_ready;
/* verilator lint_on UNUSEDSIGNAL */
wire [FCW-1:0] afifo_count, wfifo_count;
wire        res_valid;
wire [DW*16-1:0] res_data;     // a line: DW lanes' results, or one result in every word
wire [DW-1:0]    res_strb;
wire        wfifo_out_valid;
localparam WFW = 32 + DW + DW*16;
wire [WFW-1:0] wfifo_out_data;
wire        loading = state_reg == S_LOADW || state_reg == S_LOADX || state_reg == S_LOADE;
wire        can_issue = ({1'b0, afifo_count} + {1'b0, wfifo_count}) < FIFO_DEPTH - 1;

sync_fifo #(.WIDTH(34 + DW), .DEPTH(FIFO_DEPTH)) afifo_inst (
    .clk(clk), .rst(rst),
    .in_data({afifo_in_kind, afifo_in_strb, afifo_in_addr}), .in_valid(afifo_in_valid),
    .in_ready(afifo_in_ready),
    .out_data({afifo_out_kind, afifo_out_strb, afifo_out_addr}), .out_valid(afifo_out_valid), .out_ready(res_valid),
    .count(afifo_count)
);

sync_fifo #(.WIDTH(WFW), .DEPTH(FIFO_DEPTH)) wfifo_inst (
    .clk(clk), .rst(rst),
    .in_data({afifo_out_addr, res_strb, res_data}), .in_valid(res_valid), .in_ready(wfifo_in_ready),
    .out_data(wfifo_out_data), .out_valid(wfifo_out_valid),
    .out_ready(!loading && mem_req_ready),
    .count(wfifo_count)
);

wire        ld_req_valid;
wire [31:0] ld_req_addr;

assign mem_req_valid = loading ? ld_req_valid : wfifo_out_valid;
assign mem_req_we = !loading;
assign mem_req_addr = loading ? ld_req_addr : wfifo_out_data[WFW-1 -: 32];
assign mem_req_wdata = wfifo_out_data[DW*16-1:0];
assign mem_req_wstrb = wfifo_out_data[DW*16 +: DW];

// ---------------------------------------------------------------- buffers
wire [NP*XAW-1:0]  xbuf_rd_addr;
wire [NP*16-1:0]   xbuf_rd_data;
wire [POF*EAW-1:0] ebuf_rd_addr;
wire [POF*16-1:0]  ebuf_rd_data;

genvar gk;

wire [NP-1:0]      xbuf_wr_en;
wire [NP*XAW-1:0]  xbuf_wr_addr;
wire [NP*16-1:0]   xbuf_wr_data;
wire [POF-1:0]     ebuf_wr_en;
wire [POF*EAW-1:0] ebuf_wr_addr;
wire [POF*16-1:0]  ebuf_wr_data;
wire [POF-1:0]     wbuf_wr_en;
wire [WAW-1:0]     wbuf_wr_addr;
wire [POF*16-1:0]  wbuf_wr_data;

// the loads: the controller starts one in the cycle it enters a load state (ld_start_*)
// and leaves the state once ld_done
reg         ld_start;
reg  [1:0]  ld_start_target;
reg  [31:0] ld_start_base, ld_start_len;
reg         ld_start_wide;
wire        ld_done;

accel_loader #(.POX(POX), .POY(POY), .POF(POF), .XBUF_DEPTH(XBUF_DEPTH), .EBUF_DEPTH(EBUF_DEPTH),
               .WBUF_DEPTH(WBUF_DEPTH), .DW(DW)) loader_inst (
    .clk(clk), .rst(rst),
    .start(ld_start), .start_target(ld_start_target), .start_base(ld_start_base),
    .start_len(ld_start_len), .start_wide(ld_start_wide), .done(ld_done),
    .cfg_wu(is_wu), .cfg_pixel(is_fp || is_bp), .cfg_c(C), .cfg_o(O), .cfg_h(H), .cfg_w(W),
    .cfg_hw(hw), .cfg_hbwb(hbwb), .cfg_wb(wb), .cfg_cq_hw(cq_hw), .cfg_oq_hw(oq_hw),
    .active(loading), .req_valid(ld_req_valid), .req_addr(ld_req_addr), .req_ready(mem_req_ready),
    .rsp_valid(mem_rsp_valid), .rsp_data(mem_rsp_data),
    .xbuf_wr_en(xbuf_wr_en), .xbuf_wr_addr(xbuf_wr_addr), .xbuf_wr_data(xbuf_wr_data),
    .ebuf_wr_en(ebuf_wr_en), .ebuf_wr_addr(ebuf_wr_addr), .ebuf_wr_data(ebuf_wr_data),
    .wbuf_wr_en(wbuf_wr_en), .wbuf_wr_addr(wbuf_wr_addr), .wbuf_wr_data(wbuf_wr_data)
);

// which load the controller's next state needs (its decisions in the case below)
always @* begin
    ld_start = 1'b0;
    ld_start_target = 2'd1;
    ld_start_base = item_xa_reg;
    ld_start_len = x_len;
    ld_start_wide = flag_wide_x;
    if (state_reg == S_PREP2 && (is_fp || is_bp)) begin
        ld_start = 1'b1;
        ld_start_target = 2'd0;
        ld_start_base = src_b;
        ld_start_len = w_len;
        ld_start_wide = flag_wide_w;
    end else if (state_reg == S_ITEM && x_len != 0) begin
        ld_start = 1'b1;
    end else if ((state_reg == S_ITEM && e_len != 0)
                 || (state_reg == S_LOADX && ld_done && e_len != 0)) begin
        ld_start = 1'b1;
        ld_start_target = 2'd2;
        ld_start_base = item_ea_reg;
        ld_start_len = e_len;
        ld_start_wide = flag_wide_e;
    end
end

accel_banks #(.WORD_W(16), .BANKS(NP), .DEPTH(XBUF_DEPTH)) xbuf_inst (
    .clk(clk),
    .wr_en(xbuf_wr_en), .wr_addr(xbuf_wr_addr), .wr_data(xbuf_wr_data),
    .rd_addr(xbuf_rd_addr), .rd_data(xbuf_rd_data)
);

accel_banks #(.WORD_W(16), .BANKS(POF), .DEPTH(EBUF_DEPTH)) ebuf_inst (
    .clk(clk),
    .wr_en(ebuf_wr_en), .wr_addr(ebuf_wr_addr), .wr_data(ebuf_wr_data),
    .rd_addr(ebuf_rd_addr), .rd_data(ebuf_rd_data)
);

// cyclic weight buffer: FP and BP read the same stored words
wire [WAW-1:0]     w_rd_addr;
wire [RW-1:0]      w_rd_rot;
wire [CNT_W-1:0]   w_rd_lanes;
wire [POF*16-1:0]  w_lanes;
/* verilator lint_off UNUSEDSIGNAL */
wire               w_out_valid;
/* verilator lint_on UNUSEDSIGNAL */
wire               beat_valid = state_reg == S_MAC_BEAT;

cyclic_wbuf #(.LANES(POF), .WORD_W(16), .DEPTH(WBUF_DEPTH)) wbuf_inst (
    .clk(clk), .rst(rst),
    .cfg_kk(kk[WAW-1:0]),
    .wr_en(wbuf_wr_en), .wr_addr(wbuf_wr_addr), .wr_data(wbuf_wr_data),
    .rd_bp(is_bp), .rd_addr(w_rd_addr), .rd_rot(w_rd_rot), .rd_lanes(w_rd_lanes),
    .rd_valid(beat_valid && !is_wu),
    .out_data(w_lanes), .out_valid(w_out_valid)
);

// ---------------------------------------------------------------- vector beat addresses
wire is_pool = op == OP_POOL_Y || op == OP_POOL_ARG;
wire [31:0] wp = W >> 1;
wire [31:0] vu_xaddr_pool = vc_hw_reg + vy_2w_reg + (vw_reg[1] ? W : 32'd0) + {vx_reg[30:0], 1'b0}
                            + {31'd0, vw_reg[0]};
wire [31:0] vu_addr_unpool = vc_hp_reg + vy_wp_reg + {1'b0, vx_reg[31:1]};
wire [31:0] vu_xaddr = is_pool ? vu_xaddr_pool : (op == OP_UNPOOL ? vu_addr_unpool : vc_reg);
// a BP with a fused ReLU reads the mask of the result it drains (EBUF, linear layout)
wire [31:0] vu_eaddr = is_bp ? drain_idx_fb
                     : (is_pool ? vu_xaddr_pool  // the ReLU mask of a window position
                     : (op == OP_UNPOOL ? vu_addr_unpool : (op == OP_LOSS ? 32'd0 : vc_reg)));
wire        vu_issue = state_reg == S_VU && can_issue;
wire        vu_out_beat = !is_pool || vw_reg == 3;
// a wide op's DW lanes take DW elements (element-wise) or DW adjacent outputs (pooling,
// unpooling) per beat or window
wire        v_spatial = is_pool || op == OP_UNPOOL;
wire [31:0] vstep = flag_wide_v ? DW : 32'd1;       // results per output beat
wire [31:0] vstep_c = v_spatial ? 32'd1 : vstep;
wire [31:0] vstep_x = v_spatial ? vstep : 32'd1;
wire        vu_last = vc_reg == vlim_c_reg - vstep_c && vy_reg == vlim_y_reg - 1 && vx_reg == vlim_x_reg - vstep_x
                      && vw_reg == vlim_w_reg - 1;

// ---------------------------------------------------------------- MAC operand addresses
wire beat_first = i2_reg == 0 && i1_reg == 0 && i0_reg == 0;
wire beat_last = i2_reg == blim2_reg - 1 && i1_reg == blim1_reg - 1 && i0_reg == blim0_reg - 1;
wire [31:0] pad_w = pad[0] ? W : 32'd0;  // pad is 0 or 1 (3x3 pad 1, 1x1 pad 0)

// FP/BP: the tap's input row/column of lane (0, 0): FP y0 + ky - pad, BP y0 + pad - ky
wire signed [31:0] ybase = is_bp ? $signed(ty0_reg + pad - i1_reg) : $signed(ty0_reg + i1_reg - pad);
wire signed [31:0] xbase = is_bp ? $signed(tx0_reg + pad - i0_reg) : $signed(tx0_reg + i0_reg - pad);
// WU: the tap's input pixel for output pixel (i1, i0)
wire signed [31:0] wu_yy = $signed(i1_reg + t1_reg - pad);
wire signed [31:0] wu_xx = $signed(i0_reg + t0_reg - pad);
wire wu_in = wu_yy >= 0 && wu_yy < $signed(H) && wu_xx >= 0 && wu_xx < $signed(W);
// WU: the row every XBUF bank reads (channel layout: image i2, channel tile t2, the tap's
// pixel) and the row every EBUF bank reads (image i2, filter tile t3, the output pixel)
wire [31:0] x_row_wu = i2_xs_reg + c0_hw_reg + i1_w_reg + t1_w_reg - pad_w + i0_reg + t0_reg - pad;
wire [31:0] e_row_wu = i2_es_reg + o0_hw_reg + i1_w_reg + i0_reg;
// FP/BP (pixel layout): bank (by, bx) holds the tap's pixel of row quotient
// t2 + eqy + (by < yr) and column quotient t1 + eqx + (bx < xr)
wire [31:0] x_row_fb = i2_xs_reg + t2_wb_reg + eqy_wb_reg + t1_reg + eqx_reg;

reg  [NP-1:0]  x_ok;
reg  [POF-1:0] e_ok;

genvar gp;
generate
for (gp = 0; gp < NP; gp = gp + 1) begin : xlane
    localparam PY = gp / POX;
    localparam PX = gp % POX;
    wire signed [31:0] yy = ybase + PY;
    wire signed [31:0] xx = xbase + PX;
    wire pix_ok = ty0_reg + PY < H && tx0_reg + PX < W;
    wire fb_ok = yy >= 0 && yy < $signed(H) && xx >= 0 && xx < $signed(W) && pix_ok;
    wire wu_ok = c0_reg + gp < C && wu_in;
    // bank gp's row (PY, PX name the bank here: bank row PY, bank column PX); addresses
    // are computed in 32 bits and cut to the bank's width
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] a_fb = x_row_fb + (PY < yr_reg ? wb : 32'd0) + (PX < xr_reg ? 32'd1 : 32'd0);
    // vector ops: the word of bank gp among the 2**XLB words from lane 0's address on
    wire [31:0] a_v = (vu_xaddr >> XLB) + (gp < (vu_xaddr & ((32'd1 << XLB) - 1)) ? 32'd1 : 32'd0);
    wire [31:0] a = !is_mac ? a_v : (is_wu ? x_row_wu : a_fb);
    /* verilator lint_on UNUSEDSIGNAL */
    assign xbuf_rd_addr[gp*XAW +: XAW] = a[XAW-1:0];
    always @* x_ok[gp] = is_wu ? wu_ok : fb_ok;
end
for (gp = 0; gp < POF; gp = gp + 1) begin : elane
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] a_v = (vu_eaddr >> ELB) + (gp < (vu_eaddr & ((32'd1 << ELB) - 1)) ? 32'd1 : 32'd0);
    wire [31:0] a = is_wu ? e_row_wu : a_v;
    /* verilator lint_on UNUSEDSIGNAL */
    assign ebuf_rd_addr[gp*EAW +: EAW] = a[EAW-1:0];
    always @* e_ok[gp] = o0_reg + gp < O;
end
endgenerate

// bank words to lanes, one cycle after the read: FP/BP lane (PY, PX) takes bank
// ((yr + PY) mod POY, (xr + PX) mod POX), in two stages (columns, then rows) so every
// select is a constant plus a counter. WU lane b takes bank (b + s) mod NP, s = the
// pixel mod NP (skewed channel layout; 0 otherwise): the same two stages with
// xr = s mod POX, yr = s div POX and a carry into the row where PX + xr passes POX.
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] wu_pix = i1_w_reg + t1_w_reg - pad_w + i0_reg + t0_reg - pad;  // XBUF pixel of the beat
wire [31:0] wu_epix = i1_w_reg + i0_reg;                                   // EBUF pixel of the beat
wire [31:0] wu_s = XSKEW ? wu_pix & (NP - 1) : 32'd0;
/* verilator lint_on UNUSEDSIGNAL */
reg [31:0] yr_d1_reg, xr_d1_reg, se_d1_reg;
reg        wu_d1_reg;
always @(posedge clk) begin
    yr_d1_reg <= (is_fp || is_bp) ? yr_reg : (is_wu ? wu_s >> LPOX : 32'd0);
    xr_d1_reg <= (is_fp || is_bp) ? xr_reg : (is_wu ? wu_s & ((32'd1 << LPOX) - 1) : 32'd0);
    se_d1_reg <= (is_wu && ESKEW) ? wu_epix & (POF - 1) : 32'd0;
    wu_d1_reg <= is_wu;
end

wire [15:0] xword [0:NP-1];   // bank b's word
wire [15:0] xcol [0:NP-1];    // [PX*POY + by]: bank row by's word for lane column PX
wire [15:0] xlane_word [0:NP-1];
generate
for (gp = 0; gp < NP; gp = gp + 1) begin : xrot
    // gp = R*POX + PX: stage 1 reads bank row R, stage 2 feeds lane row R
    localparam R = gp / POX;
    localparam PX = gp % POX;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] sx = xr_d1_reg + PX;
    wire [31:0] bank = R*POX + (sx >= POX ? sx - POX : sx);
    wire [31:0] sy = yr_d1_reg + R + ((wu_d1_reg && sx >= POX) ? 32'd1 : 32'd0);
    wire [31:0] col = PX*POY + (sy >= POY ? sy - POY : sy);
    /* verilator lint_on UNUSEDSIGNAL */
    assign xword[gp] = xbuf_rd_data[gp*16 +: 16];
    assign xcol[PX*POY + R] = xword[bank[PW-1:0]];
    assign xlane_word[gp] = xcol[col[PW-1:0]];
end
endgenerate

// the vector lanes' first bank: lane 0's linear address mod 2**LB, one cycle late
reg  [31:0] vsel_x_d1_reg, vsel_e_d1_reg;
always @(posedge clk) begin
    vsel_x_d1_reg <= vu_xaddr & ((32'd1 << XLB) - 1);
    vsel_e_d1_reg <= vu_eaddr & ((32'd1 << ELB) - 1);
end
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] vsel_x = vsel_x_d1_reg;
wire [31:0] vsel_e = vsel_e_d1_reg;
/* verilator lint_on UNUSEDSIGNAL */
wire [15:0] eword [0:POF-1];
generate
for (gp = 0; gp < POF; gp = gp + 1) begin : eword_of
    assign eword[gp] = ebuf_rd_data[gp*16 +: 16];
end
endgenerate
// lane k of a wide vector op reads lane 0's address + f(k): f(k) = k (element-wise),
// 2k (pooling: the windows of DW adjacent outputs), k div 2 (unpooling: DW adjacent
// outputs share DW/2 pooled words); its word is in bank (address mod 2**LB), whose row
// the read above chose
reg  vpool_d1_reg, vunpool_d1_reg;
always @(posedge clk) begin
    vpool_d1_reg <= is_pool;
    vunpool_d1_reg <= op == OP_UNPOOL;
end
wire [15:0] vu_xlane [0:DW-1];
wire [15:0] vu_elane [0:DW-1];
generate
for (gk = 0; gk < DW; gk = gk + 1) begin : vlane_words
    localparam integer F_POOL = 2 * gk;
    localparam integer F_UNPOOL = gk / 2;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] f = vpool_d1_reg ? F_POOL : (vunpool_d1_reg ? F_UNPOOL : gk);
    wire [31:0] bx = (vsel_x + f) & ((32'd1 << XLB) - 1);
    wire [31:0] be = (vsel_e + f) & ((32'd1 << ELB) - 1);
    /* verilator lint_on UNUSEDSIGNAL */
    assign vu_xlane[gk] = xword[bx[PW-1:0]];
    assign vu_elane[gk] = eword[be[FW-1:0]];
end
endgenerate
// WU filter lane f takes EBUF bank (f + se) mod POF (skewed channel layout)
wire [15:0] elane_word [0:POF-1];
generate
for (gp = 0; gp < POF; gp = gp + 1) begin : erot
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] sf = se_d1_reg + gp;
    wire [31:0] bank = sf >= POF ? sf - POF : sf;
    /* verilator lint_on UNUSEDSIGNAL */
    assign elane_word[gp] = eword[bank[FW-1:0]];
end
endgenerate

// cyclic weight buffer read of the beat (hwgen.layout: lane 0's slot)
//   FP ((t3*TC + rq)*POF)*KK + ky*K + kx      BP ((rq*TC + t3)*POF + rr)*KK + ky*K + kx
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] w_addr = t3_w_reg + rq_w_reg + (is_bp ? rr_kk_reg : 32'd0) + i1_k_reg + i0_reg;
wire [31:0] w_avail = (is_bp ? C : O) - o0_reg;
wire [31:0] w_lanes_n = w_avail < POF ? w_avail : POF;
wire [31:0] rr_bits = rr_reg;
/* verilator lint_on UNUSEDSIGNAL */
assign w_rd_addr = w_addr[WAW-1:0];
assign w_rd_rot = rr_bits[RW-1:0];
assign w_rd_lanes = w_lanes_n[CNT_W-1:0];

// align the buffer words (1 cycle) with the weight buffer (3 cycles)
reg [NP*16-1:0]  xa_d2_reg, xa_d3_reg;
reg [POF*16-1:0] eb_d2_reg, eb_d3_reg;
reg [NP-1:0]     x_ok_d1_reg;
reg [POF-1:0]    e_ok_d1_reg;
reg [2:0]        ctl_d1_reg, ctl_d2_reg, ctl_d3_reg;  // {valid, last, first}

integer li;
always @(posedge clk) begin
    x_ok_d1_reg <= x_ok;
    e_ok_d1_reg <= e_ok;
    for (li = 0; li < NP; li = li + 1) begin
        xa_d2_reg[li*16 +: 16] <= x_ok_d1_reg[li] ? xlane_word[li] : 16'd0;
    end
    for (li = 0; li < POF; li = li + 1) begin
        eb_d2_reg[li*16 +: 16] <= e_ok_d1_reg[li] ? elane_word[li] : 16'd0;
    end
    xa_d3_reg <= xa_d2_reg;
    eb_d3_reg <= eb_d2_reg;
    ctl_d1_reg <= {beat_valid, beat_last, beat_first};
    ctl_d2_reg <= ctl_d1_reg;
    ctl_d3_reg <= ctl_d2_reg;
    if (rst) begin
        ctl_d1_reg <= 3'd0;
        ctl_d2_reg <= 3'd0;
        ctl_d3_reg <= 3'd0;
    end
end

// ---------------------------------------------------------------- MAC array and drain
wire [DW*64-1:0] sel_acc;
// the current tile's extents: filter lanes, rows and columns (WU: 1 and channel lanes)
wire [31:0] nf_avail = (is_bp ? C : O) - o0_reg;
wire [31:0] n1_avail = H - ty0_reg;
wire [31:0] n0_avail = is_wu ? C - c0_reg : W - tx0_reg;
wire [31:0] tile_nf = nf_avail < POF ? nf_avail : POF;
wire [31:0] tile_n1 = is_wu ? 32'd1 : (n1_avail < POY ? n1_avail : POY);
wire [31:0] tile_n0 = is_wu ? (n0_avail < NP ? n0_avail : NP) : (n0_avail < POX ? n0_avail : POX);
wire tile_last = t0_reg == lim0_reg - 1 && t1_reg == lim1_reg - 1 && t2_reg == lim2_reg - 1
                 && t3_reg == lim3_reg - 1;

// The drain runs beside the beats: a tile's sums are copied into accel_mac's shadow
// (snap) when they are done and the drain is free, and drained from there while the next
// tile multiplies. snap_wait: the next tile started at once, so the copy waits for the
// sums (mac_done, MAC_PIPE cycles after the last beat, the cycle before the next tile's
// first product reaches the accumulators); sums_ready: they are done but the drain was
// busy, so the controller holds the next tile (S_MAC_WAIT) until it is free.
reg  snap_wait_reg, sums_ready_reg;
wire drn_busy;
wire mac_done;
wire snap_held = state_reg == S_MAC_WAIT && (mac_done || sums_ready_reg) && !drn_busy && !snap_wait_reg;
wire snap = (snap_wait_reg && mac_done) || snap_held;
// the tile goes to the drain as its next tile starts at once, or as its sums are copied
wire drain_capture = (state_reg == S_MAC_BEAT && beat_last && !tile_last && !drn_busy && !snap_wait_reg)
                     || snap_held;

always @(posedge clk) begin
    if (mac_done && !snap) begin
        sums_ready_reg <= 1'b1;
    end else if (snap_held) begin
        sums_ready_reg <= 1'b0;
    end
    if (rst) begin
        sums_ready_reg <= 1'b0;
    end
end

wire        drain_feed, drain_pass;
wire [31:0] drain_sel_p, drain_sel_f, drain_addr;
wire [DW-1:0] drain_strb;  // the drain's lanes inside the map (a line drain's ragged ends)

accel_drain #(.POX(POX), .POF(POF), .DW(DW)) drain_inst (
    .clk(clk), .rst(rst),
    .capture(drain_capture), .tile_nf(tile_nf), .tile_n1(tile_n1), .tile_n0(tile_n0),
    .tile_fb(o0_hw_reg + ty0w_reg + tx0_reg), .tile_wu(t3_w_reg + t1_kpof_reg + t0_pof_reg),
    .tile_c0q(c0q_reg), .tile_c0r(c0r_reg), .tile_c0q_g(c0q_g_reg),
    .snap(snap), .busy(drn_busy),
    .cfg_wu(is_wu), .cfg_line(flag_wide_d), .cfg_fused_fp(is_fp && flag_fuse), .cfg_w(W), .cfg_hw(hw),
    .cfg_kk_pof(kk_pof), .cfg_pof_kk_pof(pof_kk_pof), .item_dst(item_dst_reg), .item_aux(item_aux_reg),
    .can_issue(can_issue), .feed(drain_feed), .sel_p(drain_sel_p), .sel_f(drain_sel_f),
    .strb(drain_strb), .addr(drain_addr), .pass(drain_pass), .idx_fb(drain_idx_fb)
);

/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] df_bits = drain_sel_f;
/* verilator lint_on UNUSEDSIGNAL */

accel_mac #(.POX(POX), .POY(POY), .POF(POF), .SEL(DW)) mac_inst (
    .clk(clk), .rst(rst),
    .in_act(xa_d3_reg), .in_wgt(is_wu ? eb_d3_reg : w_lanes),
    .in_first(ctl_d3_reg[0]), .in_last(ctl_d3_reg[1]), .in_valid(ctl_d3_reg[2]),
    .out_done(mac_done), .snap(snap),
    .sel_p(drain_sel_p), .sel_f(df_bits[FW-1:0]), .sel_acc(sel_acc)
);

// the plan's accumulator width: the exact sum wrapped to acc_bits (two's complement)
wire [6:0]  acc_drop = 7'd64 - acc_bits;
wire [DW*64-1:0] acc_wrapped;
generate
for (gk = 0; gk < DW; gk = gk + 1) begin : acc_wrap
    assign acc_wrapped[gk*64 +: 64] = $signed(sel_acc[gk*64 +: 64] << acc_drop) >>> acc_drop;
end
endgenerate

wire [DW*16-1:0] rq_data;
wire        rq_valid;
/* verilator lint_off UNUSEDSIGNAL */
wire [DW-1:0] rq_ovf_unused;
wire        rq_err_unused;
/* verilator lint_on UNUSEDSIGNAL */

fx_requant #(.LANES(DW), .IN_W(64), .OUT_W(16), .SHIFT_MIN(-16), .SHIFT_MAX(48)) rq_inst (
    .clk(clk), .rst(rst),
    .in_data(acc_wrapped), .in_index({DW{32'd0}}), .in_shift(rq_shift), .in_round(rq_round),
    .in_wrap(flag_rq_wrap), .in_key(32'd0), .in_valid(drain_feed),
    .out_data(rq_data), .out_ovf(rq_ovf_unused), .out_err(rq_err_unused), .out_valid(rq_valid)
);

// ---------------------------------------------------------------- vector unit
reg         vu_valid_d1_reg;
reg  [15:0] vu_k_d1_reg;
reg  [1:0]  vu_pos_d1_reg;
wire [DW*16-1:0] vu_out_data;
wire [DW*16-1:0] vu_aux_data;
/* verilator lint_off UNUSEDSIGNAL */
wire [DW-1:0]    vu_out_valid;  // the lanes run in step: lane 0's says when
/* verilator lint_on UNUSEDSIGNAL */

always @(posedge clk) begin
    vu_valid_d1_reg <= vu_issue;
    vu_k_d1_reg <= vc_reg[15:0];
    vu_pos_d1_reg <= {vy_reg[0], vx_reg[0]};
    if (rst) begin
        vu_valid_d1_reg <= 1'b0;
    end
end

// DW lanes; lanes 1.. take part only in wide ops (lane 0 alone runs the loss)
generate
for (gk = 0; gk < DW; gk = gk + 1) begin : vu_lane
    localparam integer ODD_I = gk % 2;
    localparam [0:0] ODD = ODD_I[0:0];  // unpooling: lane gk's output x is x0 + gk, x0 even
    accel_vu #(.F_Z(F_Z)) vu_inst (
        .clk(clk), .rst(rst),
        .in_op(op), .in_x(vu_xlane[gk]), .in_e(vu_elane[gk]),
        .in_target(vu_elane[0] == vu_k_d1_reg),
        .in_hit(vu_elane[gk] == {14'd0, vu_pos_d1_reg[1], vu_pos_d1_reg[0] ^ ODD}),
        .in_valid(vu_valid_d1_reg && (gk == 0 || flag_wide_v)),
        .cfg_relu_gt(flag_relu_gt), .cfg_pool_mask(flag_pool_mask), .cfg_saturate(flag_sgd_sat), .cfg_c(sgd_c),
        .cfg_shift(sgd_shift), .cfg_align(sgd_align),
        .out_data(vu_out_data[gk*16 +: 16]), .out_aux(vu_aux_data[gk*16 +: 16]),
        .out_valid(vu_out_valid[gk])
    );
end
endgenerate

// a fused pool queues its maxima's address at a window's third beat and its argmax's at
// the fourth; the argmax line follows the maxima one cycle later (the next window's
// result is 4 beats away)
wire        vu_push_y = is_pool && flag_fuse && vw_reg == 2;
wire        vu_to_dst2 = is_pool && flag_fuse && vw_reg == 3;
reg         arg_pend_reg;
reg  [DW*16-1:0] arg_line_reg;
always @(posedge clk) begin
    arg_pend_reg <= vu_out_valid[0] && is_pool && flag_fuse;
    arg_line_reg <= flag_wide_v ? vu_aux_data : {DW{vu_aux_data[15:0]}};
    if (rst) begin
        arg_pend_reg <= 1'b0;
    end
end

// a fused ReLU turns the requantized sums into y or the mask (CONV_FP), or multiplies
// them by the mask (CONV_BP), by the kind queued with the write's address. A BP's mask
// words come from EBUF the cycle after the feed and wait in bpm_* for the requantizer's
// 5 cycles.
wire [DW*16-1:0] rq_line = flag_wide_d ? rq_data : {DW{rq_data[15:0]}};
wire [DW*16-1:0] rq_out;
wire [DW-1:0]    bpm_now;
reg  [DW-1:0]    bpm_d2_reg, bpm_d3_reg, bpm_d4_reg, bpm_d5_reg;
always @(posedge clk) begin
    bpm_d2_reg <= bpm_now;
    bpm_d3_reg <= bpm_d2_reg;
    bpm_d4_reg <= bpm_d3_reg;
    bpm_d5_reg <= bpm_d4_reg;
end
generate
for (gk = 0; gk < DW; gk = gk + 1) begin : relu_lane
    wire [15:0] v = rq_line[gk*16 +: 16];
    wire keep = flag_relu_gt ? !v[15] && v != 16'd0 : !v[15];
    wire pass = flag_wide_d ? bpm_d5_reg[gk] : bpm_d5_reg[0];  // a narrow drain's one result: lane 0
    assign bpm_now[gk] = vu_elane[gk][0];
    assign rq_out[gk*16 +: 16] = !afifo_out_kind[1] ? (afifo_out_kind[0] && !pass ? 16'd0 : v)
                                 : (afifo_out_kind[0] ? {15'd0, keep} : (keep ? v : 16'd0));
end
endgenerate

// one result goes to every word of the line and is strobed at its address' word; a wide
// op's DW results fill the line
/* verilator lint_off UNUSEDSIGNAL */
wire [31:0] wr_addr_in = is_mac ? drain_addr
                                : (vu_to_dst2 ? item_aux_reg : item_dst_reg) + vj_reg;
/* verilator lint_on UNUSEDSIGNAL */
wire [DW-1:0] strb_one = DW > 1 ? {{(DW-1){1'b0}}, 1'b1} << wr_addr_in[DWB-1:0] : {DW{1'b1}};
assign res_valid = is_mac ? rq_valid : vu_out_valid[0] || arg_pend_reg;
assign res_data = is_mac ? rq_out
                         : (arg_pend_reg ? arg_line_reg : (flag_wide_v ? vu_out_data : {DW{vu_out_data[15:0]}}));
assign res_strb = afifo_out_strb;
assign afifo_in_kind = !flag_fuse ? 2'b00 : (is_fp ? {1'b1, drain_pass} : (is_bp ? 2'b01 : 2'b00));
assign afifo_in_valid = drain_feed || (vu_issue && (vu_out_beat || vu_push_y));
assign afifo_in_addr = wr_addr_in;
assign afifo_in_strb = (is_mac && flag_wide_d) ? drain_strb : ((!is_mac && flag_wide_v) ? {DW{1'b1}} : strb_one);

// ---------------------------------------------------------------- controller
// beat counters and their products back to zero
task clear_beats;
    begin
        i2_reg <= 32'd0; i1_reg <= 32'd0; i0_reg <= 32'd0;
        i2_xs_reg <= 32'd0; i2_es_reg <= 32'd0; i1_w_reg <= 32'd0; i1_k_reg <= 32'd0;
        rq_reg <= 32'd0; rr_reg <= 32'd0; rq_w_reg <= 32'd0; rr_kk_reg <= 32'd0;
        reset_y;
        reset_x;
    end
endtask

// FP/BP: the tap position of ky = 0 (kx = 0): yb - ty0 = -pad (BP +pad), split into
// floor(./POY) and mod POY; pad is 0 or 1
task reset_y;
    begin
        if (pad[0] && !is_bp) begin
            eqy_reg <= -32'sd1; eqy_wb_reg <= -$signed(wb); yr_reg <= POY - 1;
        end else if (pad[0] && POY == 1) begin
            eqy_reg <= 32'sd1; eqy_wb_reg <= $signed(wb); yr_reg <= 32'd0;
        end else begin
            eqy_reg <= 32'sd0; eqy_wb_reg <= 32'sd0; yr_reg <= (pad[0] && is_bp) ? 32'd1 : 32'd0;
        end
    end
endtask

task reset_x;
    begin
        if (pad[0] && !is_bp) begin
            eqx_reg <= -32'sd1; xr_reg <= POX - 1;
        end else if (pad[0] && POX == 1) begin
            eqx_reg <= 32'sd1; xr_reg <= 32'd0;
        end else begin
            eqx_reg <= 32'sd0; xr_reg <= (pad[0] && is_bp) ? 32'd1 : 32'd0;
        end
    end
endtask

// the next tap's row (FP yb + 1, BP yb - 1) and column
task step_y;
    begin
        if (!is_bp) begin
            if (yr_reg == POY - 1) begin
                yr_reg <= 32'd0; eqy_reg <= eqy_reg + 1; eqy_wb_reg <= eqy_wb_reg + $signed(wb);
            end else begin
                yr_reg <= yr_reg + 1;
            end
        end else begin
            if (yr_reg == 0) begin
                yr_reg <= POY - 1; eqy_reg <= eqy_reg - 1; eqy_wb_reg <= eqy_wb_reg - $signed(wb);
            end else begin
                yr_reg <= yr_reg - 1;
            end
        end
    end
endtask

task step_x;
    begin
        if (!is_bp) begin
            if (xr_reg == POX - 1) begin
                xr_reg <= 32'd0; eqx_reg <= eqx_reg + 1;
            end else begin
                xr_reg <= xr_reg + 1;
            end
        end else begin
            if (xr_reg == 0) begin
                xr_reg <= POX - 1; eqx_reg <= eqx_reg - 1;
            end else begin
                xr_reg <= xr_reg - 1;
            end
        end
    end
endtask

// the next tile's counters and their products (t0 fastest)
task next_tile;
    begin
            if (t0_reg != lim0_reg - 1) begin
                t0_reg <= t0_reg + 1;
                t0_pof_reg <= t0_pof_reg + POF;
            end else begin
                t0_reg <= 32'd0;
                t0_pof_reg <= 32'd0;
                if (t1_reg != lim1_reg - 1) begin
                    t1_reg <= t1_reg + 1;
                    tx0_reg <= tx0_reg + POX;
                    t1_w_reg <= t1_w_reg + W;
                    t1_kpof_reg <= t1_kpof_reg + k_pof;
                end else begin
                    t1_reg <= 32'd0;
                    tx0_reg <= 32'd0;
                    t1_w_reg <= 32'd0;
                    t1_kpof_reg <= 32'd0;
                    if (t2_reg != lim2_reg - 1) begin
                        t2_reg <= t2_reg + 1;
                        ty0_reg <= ty0_reg + POY;
                        ty0w_reg <= ty0w_reg + poy_w;
                        t2_wb_reg <= t2_wb_reg + wb;
                        c0_reg <= c0_reg + NP;
                        c0_hw_reg <= c0_hw_reg + hw;
                        if (c0r_reg + NPR >= POF) begin
                            c0r_reg <= c0r_reg + NPR - POF;
                            c0q_reg <= c0q_reg + NPQ + 1;
                            c0q_g_reg <= c0q_g_reg + npq_pof_kk_pof + pof_kk_pof;
                        end else begin
                            c0r_reg <= c0r_reg + NPR;
                            c0q_reg <= c0q_reg + NPQ;
                            c0q_g_reg <= c0q_g_reg + npq_pof_kk_pof;
                        end
                    end else begin
                        t2_reg <= 32'd0;
                        ty0_reg <= 32'd0;
                        ty0w_reg <= 32'd0;
                        t2_wb_reg <= 32'd0;
                        c0_reg <= 32'd0;
                        c0_hw_reg <= 32'd0;
                        c0q_reg <= 32'd0;
                        c0r_reg <= 32'd0;
                        c0q_g_reg <= 32'd0;
                        if (t3_reg != lim3_reg - 1) begin
                            t3_reg <= t3_reg + 1;
                            o0_reg <= o0_reg + POF;
                            o0_hw_reg <= o0_hw_reg + (is_wu ? hw : pof_hw);
                            t3_w_reg <= t3_w_reg + (is_wu ? tc_pof_kk_pof : (is_bp ? pof_kk : tc_pof_kk));
                        end
                    end
                end
            end
    end
endtask


always @(posedge clk) begin
    if (snap_wait_reg && mac_done) begin
        snap_wait_reg <= 1'b0;
    end
    case (state_reg)
        S_IDLE: begin
            if (start) begin
                pc_reg <= {PROG_AW{1'b0}};
                state_reg <= S_FETCH;
            end
        end
        S_FETCH: state_reg <= S_FETCH2;
        S_FETCH2: begin
            ir_reg <= prog_data;
            state_reg <= S_PREP1;
        end
        S_PREP1: begin
            state_reg <= op == OP_HALT ? S_DONE : S_PREP2;
        end
        S_PREP2: begin
            // MAC tiles: FP/BP (filter tile, y tile, x tile); WU (o tile, c tile, ky, kx)
            lim3_reg <= tiles3;
            lim2_reg <= tiles2;
            lim1_reg <= tiles1;
            lim0_reg <= is_wu ? K : 32'd1;
            blim2_reg <= is_wu ? gs : (is_bp ? O : C);
            blim1_reg <= is_wu ? H : K;
            blim0_reg <= is_wu ? W : K;
            // vector beats: (c, y, x, window position)
            vlim_c_reg <= (is_pool || op == OP_UNPOOL) ? C : count;
            vlim_y_reg <= is_pool ? H >> 1 : (op == OP_UNPOOL ? H : 32'd1);
            vlim_x_reg <= is_pool ? W >> 1 : (op == OP_UNPOOL ? W : 32'd1);
            vlim_w_reg <= is_pool ? 32'd4 : 32'd1;
            item_reg <= 32'd0;
            item_xa_reg <= src_a;
            item_ea_reg <= (is_bp && flag_fuse) ? aux : src_b;
            item_dst_reg <= dst;
            item_aux_reg <= aux;
            if (is_fp || is_bp) begin
                state_reg <= S_LOADW;
            end else begin
                state_reg <= S_ITEM;
            end
        end
        S_ITEM: begin
            if (x_len != 0) begin
                state_reg <= S_LOADX;
            end else if (e_len != 0) begin
                state_reg <= S_LOADE;
            end else begin
                state_reg <= is_mac ? S_MAC_BEAT : S_VU;
            end
            t3_reg <= 32'd0; t2_reg <= 32'd0; t1_reg <= 32'd0; t0_reg <= 32'd0;
            o0_reg <= 32'd0; o0_hw_reg <= 32'd0; t3_w_reg <= 32'd0;
            ty0_reg <= 32'd0; ty0w_reg <= 32'd0; tx0_reg <= 32'd0;
            c0_reg <= 32'd0; c0_hw_reg <= 32'd0; t2_wb_reg <= 32'd0; c0q_reg <= 32'd0; c0r_reg <= 32'd0; c0q_g_reg <= 32'd0;
            t1_w_reg <= 32'd0; t1_kpof_reg <= 32'd0; t0_pof_reg <= 32'd0;
            clear_beats;
            vc_reg <= 32'd0; vy_reg <= 32'd0; vx_reg <= 32'd0; vw_reg <= 32'd0; vj_reg <= 32'd0;
            vc_hw_reg <= 32'd0; vy_2w_reg <= 32'd0; vc_hp_reg <= 32'd0; vy_wp_reg <= 32'd0;
        end
        S_LOADW, S_LOADX, S_LOADE: begin
            if (ld_done) begin
                if (state_reg == S_LOADW) begin
                    state_reg <= S_ITEM;
                end else if (state_reg == S_LOADX && e_len != 0) begin
                    state_reg <= S_LOADE;
                end else begin
                    state_reg <= is_mac ? S_MAC_BEAT : S_VU;
                end
            end
        end
        S_MAC_BEAT: begin
            if (i0_reg != blim0_reg - 1) begin
                i0_reg <= i0_reg + 1;
                step_x;
            end else begin
                i0_reg <= 32'd0;
                reset_x;
                if (i1_reg != blim1_reg - 1) begin
                    i1_reg <= i1_reg + 1;
                    step_y;
                    i1_w_reg <= i1_w_reg + W;
                    i1_k_reg <= i1_k_reg + K;
                end else begin
                    i1_reg <= 32'd0;
                    i1_w_reg <= 32'd0;
                    i1_k_reg <= 32'd0;
                    reset_y;
                    if (i2_reg != blim2_reg - 1) begin
                        i2_reg <= i2_reg + 1;
                        i2_xs_reg <= i2_xs_reg + (is_wu ? cq_hw : hbwb);
                        i2_es_reg <= i2_es_reg + oq_hw;
                        if (rr_reg == POF - 1) begin
                            rr_reg <= 32'd0;
                            rr_kk_reg <= 32'd0;
                            rq_reg <= rq_reg + 1;
                            rq_w_reg <= rq_w_reg + (is_bp ? tc_pof_kk : pof_kk);
                        end else begin
                            rr_reg <= rr_reg + 1;
                            rr_kk_reg <= rr_kk_reg + kk;
                        end
                    end else begin
                        clear_beats;
                        if (!tile_last && !drn_busy && !snap_wait_reg) begin
                            // the drain is free: the next tile's beats follow at once and
                            // the drain takes this tile's sums when they are done
                            // (drain_capture)
                            next_tile;
                            snap_wait_reg <= 1'b1;
                        end else begin
                            state_reg <= S_MAC_WAIT;
                        end
                    end
                end
            end
        end
        S_MAC_WAIT: begin
            // the tile's sums go to the drain once it is free; then the next tile
            if (snap_held) begin
                if (tile_last) begin
                    state_reg <= S_FLUSH;
                end else begin
                    next_tile;
                    state_reg <= S_MAC_BEAT;
                end
            end
        end
        S_VU: begin
            if (vu_issue) begin
                if (vu_out_beat) begin
                    vj_reg <= vj_reg + vstep;
                end
                if (vw_reg != vlim_w_reg - 1) begin
                    vw_reg <= vw_reg + 1;
                end else begin
                    vw_reg <= 32'd0;
                    if (vx_reg != vlim_x_reg - vstep_x) begin
                        vx_reg <= vx_reg + vstep_x;
                    end else begin
                        vx_reg <= 32'd0;
                        if (vy_reg != vlim_y_reg - 1) begin
                            vy_reg <= vy_reg + 1;
                            vy_2w_reg <= vy_2w_reg + {W[30:0], 1'b0};
                            if (vy_reg[0]) begin
                                vy_wp_reg <= vy_wp_reg + wp;
                            end
                        end else begin
                            vy_reg <= 32'd0;
                            vy_2w_reg <= 32'd0;
                            vy_wp_reg <= 32'd0;
                            vc_reg <= vc_reg + vstep_c;
                            vc_hw_reg <= vc_hw_reg + hw;
                            vc_hp_reg <= vc_hp_reg + hpwp;
                        end
                    end
                end
                if (vu_last) begin
                    state_reg <= S_FLUSH;
                end
            end
        end
        S_FLUSH: begin
            if (afifo_count == 0 && wfifo_count == 0 && !vu_valid_d1_reg && !drn_busy) begin
                if (item_reg == n_items - 1) begin
                    pc_reg <= pc_reg + 1'b1;
                    state_reg <= S_FETCH;
                end else begin
                    item_reg <= item_reg + 1;
                    item_xa_reg <= item_xa_reg + x_len;
                    item_ea_reg <= item_ea_reg + e_len;
                    item_dst_reg <= item_dst_reg + out_stride;
                    item_aux_reg <= item_aux_reg + out_stride;
                    state_reg <= S_ITEM;
                end
            end
        end
        S_DONE: state_reg <= S_DONE;
        default: state_reg <= S_IDLE;
    endcase

    if (rst) begin
        state_reg <= S_IDLE;
        pc_reg <= {PROG_AW{1'b0}};
        snap_wait_reg <= 1'b0;
    end
end

endmodule

`resetall
