/*

accel_mac: the POX x POY x POF MAC array of the training accelerator

Contract: NP = POX*POY pixel lanes, each an instance of mac_array with POF filter lanes
and 64-bit accumulators. A beat brings one activation per pixel lane (in_act, lane p at
[p*16 +: 16]) and one weight per filter lane (in_wgt, lane f at [f*16 +: 16], shared by
every pixel lane), so accumulator (p, f) sums in_act[p] * in_wgt[f] over the beats from
in_first to in_last, exactly (64 bits hold any sum of up to 2**33 products of 16-bit
words: the plan's narrower widths are applied by the drain, which wraps the exact sum,
the same bits as wrapping after every addition).

Mapping (docs/accelerator.md): FP pixel lanes = output pixels, filter lanes = output
channels; BP pixel lanes = input pixels, filter lanes = input channels (the transposed,
flipped read of the cyclic weight buffer); WU pixel lanes = input channels, filter
lanes = output channels, one kernel tap per tile.

out_done pulses for one cycle when a tile's sums are final (3 cycles after its in_last
beat); they stay in the accumulators until the next tile's first beat reaches them (3
cycles after it is taken), so a first beat right after a last one overwrites them the
cycle after out_done. snap copies every sum into a shadow register, and the drain reads
the shadow: sel_acc[k] = shadow sum (sel_p + k, sel_f) for k < SEL (a row drain takes
SEL consecutive pixel lanes; sel_p is 32-bit two's complement, and a lane outside
0..NP-1, e.g. before lane 0 in a WU line drain's first line, reads lane 0, which the
drain strobes off), combinational. So one tile drains while the next multiplies.

Timing: one beat per cycle, latency 3 (mac_array).

*/

// Language: Verilog 2005

`resetall
`timescale 1ns / 1ps
`default_nettype none

module accel_mac #
(
    // MAC lanes along output x (>= 1)
    parameter POX = 2,
    // MAC lanes along output y (>= 1)
    parameter POY = 2,
    // MAC lanes along output channels (>= 1)
    parameter POF = 4,
    // Sums the drain selects at once, consecutive pixel lanes (>= 1)
    parameter SEL = 1,
    // Derived values, leave at their defaults
    parameter NP = POX * POY,
    parameter PW = NP > 1 ? $clog2(NP) : 1,
    parameter FW = POF > 1 ? $clog2(POF) : 1
)
(
    input  wire               clk,
    input  wire               rst,

    /*
     * One beat
     */
    input  wire [NP*16-1:0]   in_act,
    input  wire [POF*16-1:0]  in_wgt,
    input  wire               in_first,
    input  wire               in_last,
    input  wire               in_valid,
    output wire               out_done,

    /*
     * Drain select
     */
    input  wire               snap,
    input  wire [31:0]        sel_p,
    input  wire [FW-1:0]      sel_f,
    output wire [SEL*64-1:0]  sel_acc
);

// check configuration
initial begin
    if (POX < 1 || POY < 1 || POF < 1) begin
        $error("Error: POX, POY and POF must be at least 1, got %0d, %0d, %0d (instance %m)",
               POX, POY, POF);
        $finish;
    end
    if (SEL < 1) begin
        $error("Error: SEL must be at least 1, got %0d (instance %m)", SEL);
        $finish;
    end
end

wire [NP*POF*64-1:0] acc;
// the drain's copy of a tile's sums (snap), so the next tile can accumulate meanwhile
reg  [NP*POF*64-1:0] shadow_reg;
// the drain's select without a multiplier: the pixel lane's POF sums, then the lane
wire [POF*64-1:0]    pixel_acc [0:NP-1];
/* verilator lint_off UNUSEDSIGNAL */
wire [NP-1:0]        done;  // the lanes run in step: lane 0's says when
/* verilator lint_on UNUSEDSIGNAL */

assign out_done = done[0];

always @(posedge clk) begin
    if (snap) begin
        shadow_reg <= acc;
    end
end

genvar p;
generate
for (p = 0; p < NP; p = p + 1) begin : pixel

    mac_array #(
        .LANES(POF),
        .A_W(16),
        .W_W(16),
        .ACC_BITS(64)
    )
    mac_inst (
        .clk(clk),
        .rst(rst),
        .in_act(in_act[p*16 +: 16]),
        .in_wgt(in_wgt),
        .in_first(in_first),
        .in_last(in_last),
        .in_valid(in_valid),
        .out_acc(acc[p*POF*64 +: POF*64]),
        .out_valid(done[p])
    );

    assign pixel_acc[p] = shadow_reg[p*POF*64 +: POF*64];
end
endgenerate

generate
for (p = 0; p < SEL; p = p + 1) begin : sel_k
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] lane = sel_p + p;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [POF*64-1:0] sel_pixel = pixel_acc[lane < NP ? lane[PW-1:0] : {PW{1'b0}}];
    if (POF > 1) begin : sel_lane
        assign sel_acc[p*64 +: 64] = sel_pixel[{sel_f, 6'd0} +: 64];
    end else begin : sel_one
        assign sel_acc[p*64 +: 64] = sel_pixel;
    end
end
if (POF == 1) begin : sel_f_unused
    /* verilator lint_off UNUSEDSIGNAL */
    wire [FW-1:0] unused = sel_f;
    /* verilator lint_on UNUSEDSIGNAL */
end
endgenerate

endmodule

`resetall
