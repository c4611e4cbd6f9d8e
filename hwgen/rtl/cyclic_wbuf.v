/*

cyclic_wbuf: LANES weight banks in the cyclic layout, read as FP or BP lane groups

Contract (hwgen.layout.CyclicLayout with P = LANES; docs/hardware.md section 1):
W[o, c, ky, kx] lives in bank (o + c) mod P at address (t*P + o mod P)*KK + ky*K + kx,
t = (o div P)*ceil(C/P) + c div P, KK = K*K. One read returns P lanes, already aligned:

    FP (rd_bp = 0): lane i = W[o0 + i, c, ky, kx]            = CyclicLayout.fp_read(...)
    BP (rd_bp = 1): lane j = W[o, c0 + j, K-1-ky, K-1-kx]    = CyclicLayout.bp_read(...)

with lanes i >= rd_lanes forced to zero (padding lanes past O resp. C read zero
whatever the padding slots hold).

Read request (the address generator supplies lane 0's slot, i.e. CyclicLayout.locate
of W[o0, c, ky, kx] (FP) or of W[o, c0, K-1-ky, K-1-kx] (BP)):
    rd_rot   lane 0's bank r = c mod P (FP) or o mod P (BP); 0 <= r < P
    rd_addr  lane 0's address; = fp_group(...)[0][r] resp. bp_group(...)[0][r]
    rd_lanes real lanes, min(P, O - o0) (FP) or min(P, C - c0) (BP)
    cfg_kk   K*K of the current layer (held stable while reads are in flight)
Bank b serves lane i = (b - r) mod P: in FP it reads rd_addr + i*cfg_kk (lane i's row
o mod P = i of the same tile), in BP every bank reads rd_addr (the tile row of o holds
the P input channels of that tap, one per bank). A barrel rotator then gives lane i
the word of bank (i + r) mod P (CyclicLayout.rotate). The 180-degree flip of BP is
only which tap the address generator names. Every address must be < DEPTH.

Write port: wr_en[b] writes wr_data lane b into bank b at wr_addr, so a DRAM burst
beat of P words (CyclicLayout.dram_image: dram[a*P + b] = bank b, address a) is written
in one cycle with all enables set, and a single weight W[o, c, ky, kx] with the one
enable of its bank (CyclicLayout.locate). Bank contents are undefined until written.

Timing: one read and one write per cycle, no backpressure. A read sampled with
rd_valid high at rising edge n returns its lanes with out_valid high after edge n+3
(latency 3: address registers, block RAM read register, rotator/mask register). It
sees every write sampled at edge n or earlier and none sampled later.

Reset: rst is synchronous and active high and clears the read valid pipeline only;
the banks keep their contents.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module cyclic_wbuf #
(
    // Number of banks = lanes per read, P of hwgen.layout (1..64)
    parameter LANES = 4,
    // Width of a weight word (1..64)
    parameter WORD_W = 16,
    // Words per bank (>= 2); hwgen.layout's depth TO*TC*P*K*K of every layer must fit
    parameter DEPTH = 1024,
    // Derived port widths, leave at their defaults (the guard checks them):
    // address width, clog2(DEPTH) (1 when DEPTH < 2, so the guard can report it)
    parameter AW = DEPTH > 1 ? $clog2(DEPTH) : 1,
    // rd_rot width, clog2(LANES) (1 when LANES = 1)
    parameter ROT_W = LANES > 1 ? $clog2(LANES) : 1,
    // rd_lanes width, clog2(LANES + 1)
    parameter CNT_W = $clog2(LANES + 1)
)
(
    input  wire                     clk,
    input  wire                     rst,

    /*
     * Layer configuration
     */
    input  wire [AW-1:0]            cfg_kk,

    /*
     * Write port: wr_data lane b -> bank b
     */
    input  wire [LANES-1:0]         wr_en,
    input  wire [AW-1:0]            wr_addr,
    input  wire [LANES*WORD_W-1:0]  wr_data,

    /*
     * Read request: FP or BP lane group, named by lane 0's bank and address
     */
    input  wire                     rd_bp,
    input  wire [AW-1:0]            rd_addr,
    input  wire [ROT_W-1:0]         rd_rot,
    input  wire [CNT_W-1:0]         rd_lanes,
    input  wire                     rd_valid,

    /*
     * Aligned lanes, 3 cycles later: lane i at [i*WORD_W +: WORD_W]
     */
    output wire [LANES*WORD_W-1:0]  out_data,
    output wire                     out_valid
);

// check configuration
initial begin
    if (LANES < 1 || LANES > 64) begin
        $error("Error: LANES must be in 1..64, got %0d (instance %m)", LANES);
        $finish;
    end
    if (WORD_W < 1 || WORD_W > 64) begin
        $error("Error: WORD_W must be in 1..64, got %0d (instance %m)", WORD_W);
        $finish;
    end
    if (DEPTH < 2) begin
        $error("Error: DEPTH must be at least 2, got %0d (instance %m)", DEPTH);
        $finish;
    end
    if (AW != (DEPTH > 1 ? $clog2(DEPTH) : 1) || ROT_W != (LANES > 1 ? $clog2(LANES) : 1)
            || CNT_W != $clog2(LANES + 1)) begin
        $error("Error: AW, ROT_W and CNT_W are derived from DEPTH and LANES; leave them at their defaults (instance %m)");
        $finish;
    end
end

// ---------------------------------------------------------------- request stage

// kk * row mod 2**AW (like the address itself) for a constant row < 64, as shifts and
// adds: yosys would put each small constant multiply into a DSP block
function [AW-1:0] times_row;
    input [AW-1:0] kk;
    input integer  row;
    integer        j;
    begin
        times_row = {AW{1'b0}};
        for (j = 0; j < 6; j = j + 1) begin
            if (row[j]) begin
                times_row = times_row + (kk << j);
            end
        end
    end
endfunction

// row offsets in lane order (lane i: i*KK), then rotated so bank b gets lane (b - r) mod P
wire [LANES*AW-1:0]   lane_off;
wire [2*LANES*AW-1:0] lane_off_twice = {lane_off, lane_off};
wire [ROT_W-1:0]      rot_back = (rd_rot == {ROT_W{1'b0}}) ? {ROT_W{1'b0}}
                                 : LANES[ROT_W-1:0] - rd_rot;
wire [LANES*AW-1:0]   bank_off = lane_off_twice[rot_back*AW +: LANES*AW];

reg [LANES*AW-1:0] s1_addr_reg, s1_addr_next;
reg [ROT_W-1:0]    s1_rot_reg, s2_rot_reg;
reg [CNT_W-1:0]    s1_lanes_reg, s2_lanes_reg;
reg                s1_valid_reg, s2_valid_reg, s3_valid_reg;

reg [LANES*WORD_W-1:0] s2_data_reg;
reg [LANES*WORD_W-1:0] s3_data_reg, s3_data_next;

wire [2*LANES*WORD_W-1:0] bank_data_twice = {s2_data_reg, s2_data_reg};
wire [LANES*WORD_W-1:0]   lane_data = bank_data_twice[s2_rot_reg*WORD_W +: LANES*WORD_W];

assign out_data = s3_data_reg;
assign out_valid = s3_valid_reg;

genvar i;
generate
for (i = 0; i < LANES; i = i + 1) begin : lane
    localparam integer ROW = i;

    assign lane_off[i*AW +: AW] = times_row(cfg_kk, ROW);

    always @* begin
        s1_addr_next[i*AW +: AW] = rd_bp ? rd_addr : rd_addr + bank_off[i*AW +: AW];
        s3_data_next[i*WORD_W +: WORD_W] = (ROW < s2_lanes_reg) ? lane_data[i*WORD_W +: WORD_W]
                                                                : {WORD_W{1'b0}};
    end
end
endgenerate

// ---------------------------------------------------------------- banks

genvar b;
generate
for (b = 0; b < LANES; b = b + 1) begin : bank
    (* ram_style = "block" *)
    reg [WORD_W-1:0] mem [0:DEPTH-1];

    always @(posedge clk) begin
        if (wr_en[b]) begin
            mem[wr_addr] <= wr_data[b*WORD_W +: WORD_W];
        end
        // read-first: the word before this edge's write, i.e. all writes up to the
        // edge that registered the request
        s2_data_reg[b*WORD_W +: WORD_W] <= mem[s1_addr_reg[b*AW +: AW]];
    end
end
endgenerate

// ---------------------------------------------------------------- pipeline

always @(posedge clk) begin
    s1_addr_reg <= s1_addr_next;
    s1_rot_reg <= rd_rot;
    s2_rot_reg <= s1_rot_reg;
    s1_lanes_reg <= rd_lanes;
    s2_lanes_reg <= s1_lanes_reg;
    s3_data_reg <= s3_data_next;

    s1_valid_reg <= rd_valid;
    s2_valid_reg <= s1_valid_reg;
    s3_valid_reg <= s2_valid_reg;

    if (rst) begin
        s1_valid_reg <= 1'b0;
        s2_valid_reg <= 1'b0;
        s3_valid_reg <= 1'b0;
    end
end

endmodule

`resetall
