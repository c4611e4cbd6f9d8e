/*

unpool: max-pool backward pass, the K x K window of one gradient scattered to its argmax

Contract (docs/ops.md "Max-pool", fxtrain.ops.maxpool_bp, one window per lane): for an
accepted input beat (e, arg) every lane emits the K*K words of its window in row-major
window order (position p = ky*K + kx = 0, 1, ..., K*K-1):

    out_data = (p == arg) ? e : 0

i.e. e at the argmax stored by maxpool (ARG_WIDTH bits, the first maximum), zeros
elsewhere. Worked example (K = 2): e = -3, arg = 1 emits 0, -3, 0, 0. An arg >= K*K
(which fxtrain.ops.maxpool_bp rejects) emits K*K zeros. LANES windows share the
handshake and the position: lane i is bits [i*DATA_WIDTH +: DATA_WIDTH] of
in_data/out_data and [i*ARG_WIDTH +: ARG_WIDTH] of in_arg.

Handshake: valid/ready on both sides (a transfer happens at a rising edge where valid and
ready are both high). out_pos is the position p of the word on out_data, out_last marks
p = K*K-1. An input beat accepted at rising edge n shows its first word (p = 0) with
out_valid high after edge n; a word advances at every edge where out_ready is high. The
next beat is accepted together with the current window's last word
(in_ready = !busy | (out_last & out_ready)), so with out_ready held high the output
streams one word per cycle without bubbles, one input beat per K*K cycles.
out_valid/out_data/out_pos/out_last depend only on registers; in_ready also depends
combinationally on out_ready.

Reset: rst is synchronous and active high; it abandons the window being emitted (its
remaining words are never shown) and drops an input beat accepted at the same edge.
The e/arg registers are free-running (loaded only on an accepted beat).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module unpool #
(
    // Width of one signed gradient word, 2..64 bits
    parameter DATA_WIDTH = 16,
    // Number of parallel lanes (independent windows emitted in lockstep), >= 1
    parameter LANES = 1,
    // Window size: K x K words per window, 1..16 (the engine's limit: argmax fits a uint8)
    parameter K = 2,
    // Width of one argmax field: max(1, clog2(K*K)); derived, do not override
    parameter ARG_WIDTH = (K*K > 1) ? $clog2(K*K) : 1
)
(
    input  wire                        clk,
    input  wire                        rst,

    /*
     * One gradient word and its argmax per lane
     */
    input  wire [LANES*DATA_WIDTH-1:0] in_data,
    input  wire [LANES*ARG_WIDTH-1:0]  in_arg,
    input  wire                        in_valid,
    output wire                        in_ready,

    /*
     * The K*K window words, one position per transfer
     */
    output wire [LANES*DATA_WIDTH-1:0] out_data,
    output wire [ARG_WIDTH-1:0]        out_pos,
    output wire                        out_last,
    output wire                        out_valid,
    input  wire                        out_ready
);

// check configuration
initial begin
    if (DATA_WIDTH < 2 || DATA_WIDTH > 64) begin
        $error("Error: DATA_WIDTH must be in 2..64, got %0d (instance %m)", DATA_WIDTH);
        $finish;
    end
    if (LANES < 1) begin
        $error("Error: LANES must be at least 1, got %0d (instance %m)", LANES);
        $finish;
    end
    if (K < 1 || K > 16) begin
        $error("Error: K must be in 1..16, got %0d (instance %m)", K);
        $finish;
    end
    if (ARG_WIDTH != ((K*K > 1) ? $clog2(K*K) : 1)) begin
        $error("Error: ARG_WIDTH is derived from K and must not be overridden, got %0d (instance %m)",
               ARG_WIDTH);
        $finish;
    end
end

localparam W = DATA_WIDTH;
localparam AW = ARG_WIDTH;
localparam integer  LAST_INT = K*K - 1;
localparam [AW-1:0] POS_LAST = LAST_INT[AW-1:0];
localparam [AW-1:0] POS_ONE = 1;

reg  [LANES*W-1:0]  e_reg, e_next;
reg  [LANES*AW-1:0] arg_reg, arg_next;
reg  [AW-1:0]       pos_reg, pos_next;
reg                 busy_reg, busy_next;

wire                last = busy_reg && (pos_reg == POS_LAST);
wire                accept = in_valid && in_ready;

assign in_ready = !busy_reg || (last && out_ready);
assign out_pos = pos_reg;
assign out_last = last;
assign out_valid = busy_reg;

generate
    genvar i;
    for (i = 0; i < LANES; i = i + 1) begin : lane
        wire hit = (arg_reg[i*AW +: AW] == pos_reg);
        assign out_data[i*W +: W] = e_reg[i*W +: W] & {W{hit}};
    end
endgenerate

always @* begin
    e_next = e_reg;
    arg_next = arg_reg;
    pos_next = pos_reg;
    busy_next = busy_reg;
    if (accept) begin
        e_next = in_data;
        arg_next = in_arg;
        pos_next = {AW{1'b0}};
        busy_next = 1'b1;
    end else if (busy_reg && out_ready) begin
        pos_next = last ? {AW{1'b0}} : pos_reg + POS_ONE;
        busy_next = !last;
    end
end

always @(posedge clk) begin
    e_reg <= e_next;
    arg_reg <= arg_next;
    pos_reg <= pos_next;
    busy_reg <= busy_next;

    if (rst) begin
        pos_reg <= {AW{1'b0}};
        busy_reg <= 1'b0;
    end
end

endmodule

`resetall
