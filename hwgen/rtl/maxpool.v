/*

maxpool: K x K max-pooling of a streamed window with the argmax of the first maximum

Contract (docs/ops.md "Max-pool", fxtrain.ops.maxpool_fp, one window per lane): the
K*K words of a window arrive one per in_valid beat in row-major window order
(position p = ky*K + kx = 0, 1, ..., K*K-1). After the last one

    out_data = max over the window            (signed DATA_WIDTH-bit compare)
    out_arg  = p of the FIRST maximum         (ties go to the earliest position)

Worked tie: window [[5, 7], [7, 2]] (K = 2) streams 5, 7, 7, 2 and gives 7 at argmax 1,
not 2. LANES windows (e.g. LANES channels at the same spatial window) are pooled side by
side and share the position counter: lane i is bits [i*DATA_WIDTH +: DATA_WIDTH] of
in_data/out_data and [i*ARG_WIDTH +: ARG_WIDTH] of out_arg, with
ARG_WIDTH = max(1, clog2(K*K)) (8 bits for K = 16, the engine's uint8).

Framing: an internal counter counts valid beats modulo K*K from reset; gaps (in_valid
low) may fall anywhere, also inside a window. The window address generator upstream
supplies whole windows only (maxpool_fp drops trailing rows/columns before they get here).

Timing: one word per lane per cycle, no backpressure. When the last word of a window is
sampled with in_valid high at rising edge n, out_data/out_arg are presented with
out_valid high after rising edge n+1, for one cycle (latency 1 cycle after the last
word); windows may follow back to back.

Reset: rst is synchronous and active high; it clears out_valid and the position counter,
so a partially received window is discarded and the next valid beat starts a new window
(a word sampled together with rst is dropped). The running maximum and argmax registers
are free-running; they double as the output registers (a new window overwrites them only
after its first word, one cycle after out_valid).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module maxpool #
(
    // Width of one signed data word, 2..64 bits
    parameter DATA_WIDTH = 16,
    // Number of parallel lanes (independent windows pooled in lockstep), >= 1
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
     * Window words, one per beat in row-major window order
     */
    input  wire [LANES*DATA_WIDTH-1:0] in_data,
    input  wire                        in_valid,

    /*
     * Maximum and argmax of each lane's window, 1 cycle after its last word
     */
    output wire [LANES*DATA_WIDTH-1:0] out_data,
    output wire [LANES*ARG_WIDTH-1:0]  out_arg,
    output wire                        out_valid
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

reg  [AW-1:0]       pos_reg, pos_next;
reg                 done_reg;

reg  [LANES*W-1:0]  best_reg, best_next;
reg  [LANES*AW-1:0] arg_reg, arg_next;

wire                first = (pos_reg == {AW{1'b0}});
wire                last = (pos_reg == POS_LAST);
wire [LANES-1:0]    take;

assign out_data = best_reg;
assign out_arg = arg_reg;
assign out_valid = done_reg;

generate
    genvar i;
    for (i = 0; i < LANES; i = i + 1) begin : lane
        wire signed [W-1:0] x = in_data[i*W +: W];
        wire signed [W-1:0] best = best_reg[i*W +: W];
        // strict >: an equal later word never displaces the first maximum
        assign take[i] = first || (x > best);
    end
endgenerate

always @* begin : running_max
    integer k;
    best_next = best_reg;
    arg_next = arg_reg;
    pos_next = pos_reg;
    if (in_valid) begin
        for (k = 0; k < LANES; k = k + 1) begin
            if (take[k]) begin
                best_next[k*W +: W] = in_data[k*W +: W];
                arg_next[k*AW +: AW] = pos_reg;
            end
        end
        pos_next = last ? {AW{1'b0}} : pos_reg + POS_ONE;
    end
end

always @(posedge clk) begin
    best_reg <= best_next;
    arg_reg <= arg_next;
    pos_reg <= pos_next;
    done_reg <= in_valid && last;

    if (rst) begin
        pos_reg <= {AW{1'b0}};
        done_reg <= 1'b0;
    end
end

endmodule

`resetall
