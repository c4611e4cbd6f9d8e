/*

accel_vu: the accelerator's vector unit, one element-wise training task per instruction

Contract: each beat (in_valid) brings the operands of one element, x and e (the two
on-chip buffers' words), and the unit named by in_op computes (library module, engine op):

    in_op        result per beat                         module        fxtrain op
    RELU_Y  4    x >= 0 ? x : 0 ("ge"; x > 0 if gt)      relu_mask     relu_fp (y)
    RELU_MASK 5  keep bit of x, as a 16-bit 0/1 word     relu_mask     relu_fp (mask)
    RELU_BP 6    e[0] ? x : 0 (x = gradient, e = mask)   relu_mask     relu_bp
    POOL_Y  7    max of 4 beats (one 2x2 window)         maxpool       maxpool_fp (y)
    POOL_ARG 8   argmax 0..3 of 4 beats, first maximum   maxpool       maxpool_fp (argmax)
    UNPOOL  9    in_hit ? x : 0 (hit: e = this position)  (inline)      maxpool_bp
    LOSS   10    squared-hinge gradient of logit x,       hinge_grad    squared_hinge_grad
                 target +1 iff in_target
    ACCUM  11    fit(x + fit(rnd(e * c)))  V += G*lr_q    sgd_momentum  fpl19_accumulate
    APPLY  12    fit(x - fit(rnd(e * c)))  W -= V*s_q     sgd_momentum  fpl19_apply
    DECAY  13    fit(rnd(e * c))           V  = V*m_q     sgd_momentum  fpl19_decay

POOL beats come in whole windows (4 in row-major window order), one result per window;
every other op gives one result per beat. Results leave in beat order. out_aux carries
the window's argmax (0..3) with every POOL result, so a fused pool writes both; with
cfg_pool_mask, in_e[0] of each pool beat is the mask of the ReLU before the pool, and
out_aux is 4 where the mask at the argmax is 0 (UNPOOL never hits 4, so it then writes
the gradient of that ReLU's input).

Timing: no backpressure. Latency (beat to out_valid): 1 for RELU_*, UNPOOL, LOSS; 1 after
a window's last beat for POOL_*; 4 for ACCUM/APPLY/DECAY. One instruction's beats all use
one op, so results never overtake each other.

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_vu #
(
    // Fraction length of the logits (the squared-hinge target is +-2**F_Z)
    parameter F_Z = 8
)
(
    input  wire         clk,
    input  wire         rst,

    /*
     * One beat
     */
    input  wire [7:0]   in_op,
    input  wire [15:0]  in_x,
    input  wire [15:0]  in_e,
    input  wire         in_target,
    input  wire         in_hit,
    input  wire         in_valid,

    /*
     * Per-instruction settings
     */
    input  wire         cfg_relu_gt,
    input  wire         cfg_pool_mask,
    input  wire         cfg_saturate,
    input  wire [15:0]  cfg_c,
    input  wire [5:0]   cfg_shift,
    input  wire [4:0]   cfg_align,

    /*
     * Results
     */
    output reg  [15:0]  out_data,
    output wire [15:0]  out_aux,
    output reg          out_valid
);

localparam [7:0] OP_RELU_Y = 8'd4;
localparam [7:0] OP_RELU_MASK = 8'd5;
localparam [7:0] OP_RELU_BP = 8'd6;
localparam [7:0] OP_POOL_Y = 8'd7;
localparam [7:0] OP_POOL_ARG = 8'd8;
localparam [7:0] OP_UNPOOL = 8'd9;
localparam [7:0] OP_LOSS = 8'd10;
localparam [7:0] OP_ACCUM = 8'd11;
localparam [7:0] OP_APPLY = 8'd12;
localparam [7:0] OP_DECAY = 8'd13;

wire is_relu = in_op == OP_RELU_Y || in_op == OP_RELU_MASK || in_op == OP_RELU_BP;
wire is_pool = in_op == OP_POOL_Y || in_op == OP_POOL_ARG;
wire is_sgd = in_op == OP_ACCUM || in_op == OP_APPLY || in_op == OP_DECAY;

// ---------------------------------------------------------------- ReLU
wire [15:0] relu_data;
wire        relu_mask_bit;
wire        relu_valid;

relu_mask #(.DATA_WIDTH(16), .LANES(1)) relu_inst (
    .clk(clk), .rst(rst),
    .in_data(in_x), .in_mask(in_e[0]), .in_bp(in_op == OP_RELU_BP), .in_rule_gt(cfg_relu_gt),
    .in_valid(in_valid && is_relu),
    .out_data(relu_data), .out_mask(relu_mask_bit), .out_valid(relu_valid)
);

// ---------------------------------------------------------------- max-pool
wire [15:0] pool_data;
wire [1:0]  pool_arg;
wire        pool_valid;

maxpool #(.DATA_WIDTH(16), .LANES(1), .K(2)) pool_inst (
    .clk(clk), .rst(rst),
    .in_data(in_x), .in_valid(in_valid && is_pool),
    .out_data(pool_data), .out_arg(pool_arg), .out_valid(pool_valid)
);

// the ReLU mask of each window position, in beat order (the windows come whole)
reg  [1:0]  pos_reg;
reg  [3:0]  pmask_reg;

always @(posedge clk) begin
    if (in_valid && is_pool) begin
        pmask_reg[pos_reg] <= in_e[0];
        pos_reg <= pos_reg + 2'd1;
    end
    if (rst) begin
        pos_reg <= 2'd0;
    end
end

assign out_aux = (cfg_pool_mask && !pmask_reg[pool_arg]) ? 16'd4 : {14'd0, pool_arg};

// ---------------------------------------------------------------- loss gradient
wire [15:0] loss_data;
wire        loss_valid;

hinge_grad #(.DATA_WIDTH(16), .LANES(1), .F_Z(F_Z)) loss_inst (
    .clk(clk), .rst(rst),
    .in_data(in_x), .in_target(in_target), .in_valid(in_valid && in_op == OP_LOSS),
    .out_data(loss_data), .out_valid(loss_valid)
);

// ---------------------------------------------------------------- SGD with momentum
wire [15:0] sgd_data;
wire        sgd_valid;
wire [2:0]  sgd_op = in_op == OP_ACCUM ? 3'd0 : (in_op == OP_APPLY ? 3'd1 : 3'd2);
/* verilator lint_off UNUSEDSIGNAL */
wire [1:0]  sgd_ovf_unused;
/* verilator lint_on UNUSEDSIGNAL */

sgd_momentum #(.DATA_WIDTH(16), .LANES(1), .SHIFT_WIDTH(6), .ALIGN_WIDTH(5)) sgd_inst (
    .clk(clk), .rst(rst),
    .in_op(sgd_op), .in_a(in_x), .in_b(in_e), .in_c(cfg_c), .in_shift(cfg_shift),
    .in_align_a(5'd0), .in_align_p(cfg_align), .in_saturate(cfg_saturate),
    .in_valid(in_valid && is_sgd),
    .out_data(sgd_data), .out_ovf(sgd_ovf_unused), .out_valid(sgd_valid)
);

// ---------------------------------------------------------------- unpool (a select)
reg  [15:0] unpool_data_reg;
reg         unpool_valid_reg;

always @(posedge clk) begin
    unpool_data_reg <= in_hit ? in_x : 16'd0;
    unpool_valid_reg <= in_valid && in_op == OP_UNPOOL;
    if (rst) begin
        unpool_valid_reg <= 1'b0;
    end
end

// ---------------------------------------------------------------- result select
always @* begin
    out_data = 16'd0;
    out_valid = 1'b0;
    case (in_op)
        OP_RELU_Y, OP_RELU_BP: begin out_data = relu_data; out_valid = relu_valid; end
        OP_RELU_MASK: begin out_data = {15'd0, relu_mask_bit}; out_valid = relu_valid; end
        OP_POOL_Y: begin out_data = pool_data; out_valid = pool_valid; end
        OP_POOL_ARG: begin out_data = {14'd0, pool_arg}; out_valid = pool_valid; end
        OP_UNPOOL: begin out_data = unpool_data_reg; out_valid = unpool_valid_reg; end
        OP_LOSS: begin out_data = loss_data; out_valid = loss_valid; end
        OP_ACCUM, OP_APPLY, OP_DECAY: begin out_data = sgd_data; out_valid = sgd_valid; end
        default: begin out_data = 16'd0; out_valid = 1'b0; end
    endcase
end

endmodule

`resetall
