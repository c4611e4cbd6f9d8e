/*

hinge_grad: gradient of the squared-hinge loss on +-1 targets, in fixed point

Contract (docs/ops.md "Loss gradients", fxtrain.ops.squared_hinge_grad(z, t, F_Z,
w=DATA_WIDTH)), per lane, with z a signed DATA_WIDTH-bit logit in Q(DATA_WIDTH, F_Z) and
t = +1 (in_target = 1) or -1 (in_target = 0):

    t_q   = +-2**F_Z saturated to DATA_WIDTH bits        (the target in z's format)
    done  = z * t >= 2**F_Z                              (z*t >= 1, on the UNsaturated 2**F_Z)
    out   = done ? 0 : wrap_DATA_WIDTH(z - t_q)

The three F_Z regimes are separate generate branches:
    F_Z <= DATA_WIDTH-2  t_q = +-2**F_Z exactly; done = (z >= 2**F_Z) or (z <= -2**F_Z)
    F_Z == DATA_WIDTH-1  t_q(+1) = max code, t_q(-1) = min code = -2**F_Z;
                         done only for t = -1, z = min code
    F_Z >= DATA_WIDTH    t_q = max / min code; never done (|z| < 2**F_Z)
At z*t exactly 1 the rule and the subtraction agree (z - t_q = 0), so the rule only
matters strictly beyond it. Worked examples (F_Z = 8, 16 bits): t = +1: z = 256 -> 0 (exactly 1), z = 255 -> -1;
t = -1: z = -256 -> 0, z = -255 -> 1. (F_Z = 15, 16 bits): t = +1 -> t_q = 32767,
z = 32767 -> 0 by the subtraction; t = -1, z = 100 -> wrap(100 + 32768) = -32668.

Timing: one beat of LANES words per cycle, no backpressure; a beat sampled with in_valid
high at rising edge n is presented with out_valid high after rising edge n+1 (latency 1
cycle). Gaps pass through as gaps.

Reset: rst is synchronous and active high; it clears only out_valid. The data register is
free-running.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module hinge_grad #
(
    // Width of one signed logit / gradient word (the engine's w), 2..32 bits
    parameter DATA_WIDTH = 16,
    // Number of parallel lanes (independent logits per beat), >= 1
    parameter LANES = 1,
    // Fraction length of the logits: 1.0 is 2**F_Z, 0..64 (the engine's f_z range)
    parameter F_Z = 8
)
(
    input  wire                        clk,
    input  wire                        rst,

    /*
     * Logits and targets: lane i is in_data[i*DATA_WIDTH +: DATA_WIDTH] and
     * in_target[i] (1: t = +1, 0: t = -1)
     */
    input  wire [LANES*DATA_WIDTH-1:0] in_data,
    input  wire [LANES-1:0]            in_target,
    input  wire                        in_valid,

    /*
     * Gradients, 1 cycle later
     */
    output wire [LANES*DATA_WIDTH-1:0] out_data,
    output wire                        out_valid
);

// check configuration
initial begin
    if (DATA_WIDTH < 2 || DATA_WIDTH > 32) begin
        $error("Error: DATA_WIDTH must be in 2..32, got %0d (instance %m)", DATA_WIDTH);
        $finish;
    end
    if (LANES < 1) begin
        $error("Error: LANES must be at least 1, got %0d (instance %m)", LANES);
        $finish;
    end
    if (F_Z < 0 || F_Z > 64) begin
        $error("Error: F_Z must be in 0..64, got %0d (instance %m)", F_Z);
        $finish;
    end
end

localparam W = DATA_WIDTH;
localparam [W-1:0] MAX_CODE = {1'b0, {(W-1){1'b1}}};
localparam [W-1:0] MIN_CODE = {1'b1, {(W-1){1'b0}}};
localparam [W-1:0] ONE_LSB = {{(W-1){1'b0}}, 1'b1};

reg  [LANES*W-1:0]  data_reg;
reg                 valid_reg;

wire [LANES-1:0]    done;
wire [LANES*W-1:0]  diff;

assign out_data = data_reg;
assign out_valid = valid_reg;

generate
    genvar i;
    for (i = 0; i < LANES; i = i + 1) begin : lane
        wire                pos = in_target[i];
        wire        [W-1:0] tq;
        if (F_Z <= W - 2) begin : exact_one
            wire signed [W-1:0] z = in_data[i*W +: W];
            // 2**F_Z and -2**F_Z are both codes: t_q is exact and both thresholds reachable
            localparam [W-1:0] ONE = ONE_LSB << F_Z;
            localparam [W-1:0] NEG_ONE = ~ONE + ONE_LSB;
            assign tq = pos ? ONE : NEG_ONE;
            assign done[i] = pos ? (z >= $signed(ONE)) : (z <= $signed(NEG_ONE));
        end else if (F_Z == W - 1) begin : min_is_minus_one
            wire [W-1:0] z = in_data[i*W +: W];
            // +1 saturates to the max code and is never reached; -1 is the min code
            assign tq = pos ? MAX_CODE : MIN_CODE;
            assign done[i] = !pos && (z == MIN_CODE);
        end else begin : beyond_range
            // |z| < 2**F_Z: the gradient is never zeroed by the rule
            assign tq = pos ? MAX_CODE : MIN_CODE;
            assign done[i] = 1'b0;
        end
        // W-bit subtraction is wrap_W(z - t_q)
        assign diff[i*W +: W] = in_data[i*W +: W] - tq;
    end
endgenerate

always @(posedge clk) begin : data_path
    integer k;
    // zeroing is a synchronous clear, so it can use the flip-flops' reset pins
    for (k = 0; k < LANES; k = k + 1) begin
        if (done[k]) begin
            data_reg[k*W +: W] <= {W{1'b0}};
        end else begin
            data_reg[k*W +: W] <= diff[k*W +: W];
        end
    end
    valid_reg <= in_valid;

    if (rst) begin
        valid_reg <= 1'b0;
    end
end

endmodule

`resetall
